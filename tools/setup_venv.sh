#!/usr/bin/env bash
# Creates (or completes) the project's virtual environment: pinned wheels, Ultralytics without its
# second cv2, the torchvision shim where no torchvision is importable, the vision_msgs subset
# where no vision_msgs is importable, and this package in editable mode. Safe to re-run.
set -euo pipefail
VENV="${1:-.venv}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --quiet --disable-pip-version-check -c "$HERE/constraints.txt")
"${PIP[@]}" setuptools wheel
"${PIP[@]}" -r "$HERE/requirements/runtime.txt" -r "$HERE/requirements/ros.txt" -r "$HERE/requirements/dev.txt" -r "$HERE/requirements/train.txt"
# Ultralytics' other dependencies came with train.txt; --no-deps keeps its opencv-python-headless out.
"${PIP[@]}" --no-deps -r "$HERE/requirements/ultralytics.txt"

# One cv2, with the contrib trackers: if any other OpenCV distribution got in (e.g. someone ran a
# plain `pip install ultralytics`), remove it and reinstall the contrib build over the shared cv2/.
OTHER_CV=$("$PY" - <<'EOF'
import importlib.metadata as md, re
names = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in md.distributions()}
print(" ".join(sorted(n for n in names if n.startswith("opencv") and n != "opencv-contrib-python-headless")))
EOF
)
if [ -n "$OTHER_CV" ]; then
    echo "setup_venv: removing $OTHER_CV (second cv2) and reinstalling opencv-contrib-python-headless"
    "$PY" -m pip uninstall --quiet --yes $OTHER_CV
    "${PIP[@]}" --force-reinstall --no-deps opencv-contrib-python-headless
fi
"$PY" -c "import cv2; cv2.TrackerCSRT_create; cv2.TrackerKCF_create" \
    || { echo "setup_venv: cv2 lacks the CSRT/KCF trackers" >&2; exit 1; }

# torchvision: keep a working one (e.g. a CUDA machine); where the wheel cannot be imported
# (no CPU build of it is on the package index), replace it by the plain-torch shim of the same version.
if ! "$PY" -c "import torchvision; torchvision.ops.nms" >/dev/null 2>&1; then
    echo "setup_venv: torchvision is not importable here; installing tools/torchvision_shim"
    "${PIP[@]}" --no-deps --force-reinstall --no-build-isolation "$HERE/tools/torchvision_shim"
    rm -rf "$HERE/tools/torchvision_shim/build" "$HERE/tools/torchvision_shim/torchvision.egg-info"
    "$PY" -c "import torchvision; torchvision.ops.nms"
fi

"$HERE/tools/build_vision_msgs.sh" "$VENV"
"${PIP[@]}" --no-deps --no-build-isolation -e "$HERE"
# ament_python puts console scripts in lib/mlkd_tracker (where `ros2 run` looks); put the CLI on
# the venv's PATH as well.
ln -sf ../lib/mlkd_tracker/mlkd-tracker "$VENV/bin/mlkd-tracker"
