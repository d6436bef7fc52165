#!/usr/bin/env bash
# Make the separate virtual environment the Meta-World benchmark runs in: Python 3.11, the
# package's own Python dependencies, and `metaworld` 3.1.1 with the mujoco 3.3.0 it pins.
# The project's main environment runs mujoco 4.x; metaworld cannot share it (see
# docs/metaworld.md). The package itself is not installed here: commands run with
# PYTHONPATH=<checkout>, so one environment serves every checkout. No ROS: the benchmark
# needs only the pure core, sim, data and model layers.
#
# Usage: scripts/metaworld_env/setup_env.sh [VENV_DIR]
#   METAWORLD_VENV   default ~/.cache/action_images_ros/metaworld-venv
#   PYTHON           interpreter (default python3.11)
# Prints the venv path on success. Idempotent: a second run with the same requirements is quick.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${1:-${METAWORLD_VENV:-$HOME/.cache/action_images_ros/metaworld-venv}}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
stamp="$(cat "$repo/requirements/python.txt" "$repo/requirements/metaworld.txt" \
  "$repo/scripts/metaworld_env/setup_env.sh" \
  | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && "$(cat "$venv/.action_images_stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "$venv"
  exit 0
fi
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip() {
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "^WARNING: Location .* is ignored" || true; } >&2
  return "${PIPESTATUS[0]}"
}
pip torch==2.13.0
# The package's requirements, the test tools, and the metaworld extra (metaworld pins mujoco
# 3.3.0; the package accepts mujoco >= 3.2).
pip -r "$repo/requirements/python.txt" -r "$repo/requirements/metaworld.txt" \
  "pytest>=8,<8.4" "pytest-timeout>=2.3" "hypothesis>=6.100"
"$venv/bin/python" -c "import metaworld, mujoco; print('metaworld ok, mujoco', mujoco.__version__)" >&2
echo "$stamp" > "$venv/.action_images_stamp"
echo "$venv"
