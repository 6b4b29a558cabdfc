#!/usr/bin/env bash
# Builds the field-only vision_msgs subset (interfaces/vision_msgs) into a venv, but only when no
# vision_msgs is importable there already (a sourced ROS distro or an earlier build wins).
# Why a script: vision_msgs ships no wheel, and rclpy needs compiled type support to publish it.
set -euo pipefail
VENV="$(cd "${1:?usage: build_vision_msgs.sh VENV}" && pwd)"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="$VENV/bin/python"

if "$PY" -c "import vision_msgs.msg as m; m.Detection2DArray()" 2>/dev/null; then
  echo "vision_msgs already importable; not building the subset."
  exit 0
fi

# The ROS wheels' CMake exports hard-code the wheel builder's Python and numpy include paths;
# point them at this venv's own.
PY_INC="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
NP_INC="$("$PY" -c 'import numpy; print(numpy.get_include())')"
grep -rlE '/opt/python/cp311-cp311/(include/python3\.11|lib/python3\.11/site-packages/numpy/_core/include)' \
  "$VENV/share" --include='*.cmake' 2>/dev/null | while read -r f; do
  sed -i -e "s#/opt/python/cp311-cp311/lib/python3\.11/site-packages/numpy/_core/include#$NP_INC#g" \
         -e "s#/opt/python/cp311-cp311/include/python3\.11#$PY_INC#g" "$f"
done

BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
PATH="$VENV/bin:$PATH" cmake -S "$HERE/interfaces/vision_msgs" -B "$BUILD" \
  -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF > "$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; exit 1; }
PATH="$VENV/bin:$PATH" make -C "$BUILD" -j2 install > "$BUILD/build.log" 2>&1 \
  || { tail -50 "$BUILD/build.log"; exit 1; }
"$PY" -c "import vision_msgs.msg as m; m.Detection2DArray(); print('vision_msgs subset built into', '$VENV')"
