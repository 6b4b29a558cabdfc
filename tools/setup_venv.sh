#!/usr/bin/env bash
# Creates (or completes) the project's virtual environment: pinned wheels, the vision_msgs subset
# where no vision_msgs is importable, and this package in editable mode.
set -euo pipefail
VENV="${1:-.venv}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$HERE/constraints.txt")
"${PIP[@]}" setuptools wheel
"${PIP[@]}" -r "$HERE/requirements/runtime.txt" -r "$HERE/requirements/ros.txt" -r "$HERE/requirements/dev.txt" -r "$HERE/requirements/train.txt"
"$HERE/tools/build_vision_msgs.sh" "$VENV"
"${PIP[@]}" --no-deps --no-build-isolation -e "$HERE"
# ament_python puts console scripts in lib/mlkd_tracker (where `ros2 run` looks); put the CLI on
# the venv's PATH as well.
ln -sf ../lib/mlkd_tracker/mlkd-tracker "$VENV/bin/mlkd-tracker"
