#!/usr/bin/env bash
# Make a separate Python 3.12 virtual environment with the real `lerobot` package, used only to
# check that our LeRobot v3 export loads through `lerobot.datasets.LeRobotDataset`.
# lerobot needs Python >= 3.12 while the project runs on 3.11, so it cannot share the project venv.
#
# Usage: scripts/lerobot_check/setup_env.sh [VENV_DIR]
#   PYTHON312   interpreter to use (default: python3.12 on PATH, else pyenv's 3.12.1)
#   LEROBOT_VERSION  (default 0.6.1)
# Prints the venv path on success. Idempotent: an existing venv with lerobot is kept.
set -euo pipefail
venv="${1:-${LEROBOT_CHECK_VENV:-$HOME/.cache/action_images_ros/lerobot-venv}}"
version="${LEROBOT_VERSION:-0.6.1}"
python="${PYTHON312:-}"
if [[ -z "$python" ]]; then
  # A pyenv shim may exist without the version being selected: test that it actually runs.
  for candidate in python3.12 /root/.pyenv/versions/3.12.1/bin/python3.12; do
    if "$candidate" -c "import sys; assert sys.version_info[:2] == (3, 12)" 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
fi
if [[ -z "$python" ]]; then
  echo "setup_env.sh: no Python 3.12 interpreter (set PYTHON312)" >&2
  exit 2
fi
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import lerobot.datasets.lerobot_dataset" 2>/dev/null; then
  echo "$venv"
  exit 0
fi
"$python" -m venv "$venv"
# The machine-wide pip constraints pin wheels built for the project's Python; they do not apply here.
export PIP_CONSTRAINT=""
"$venv/bin/python" -m pip install --upgrade pip >&2
"$venv/bin/python" -m pip install "lerobot[dataset]==${version}" >&2
"$venv/bin/python" -c "import lerobot, lerobot.datasets.lerobot_dataset as d; print('lerobot', lerobot.__version__)" >&2
echo "$venv"
