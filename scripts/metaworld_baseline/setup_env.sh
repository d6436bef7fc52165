#!/usr/bin/env bash
# Make the environment of the same-data Diffusion Policy baseline (docs/metaworld.md): Python 3.12
# (lerobot needs >= 3.12; the package runs on 3.11), lerobot 0.6.1 with what
# `lerobot-train --policy.type=diffusion` needs (its training and diffusion extras), metaworld
# 3.1.1 with the mujoco 3.3.0 it pins, and the package's own requirements, so that one
# environment exports the demonstrations, trains and evaluates through our Meta-World adapter.
# Nothing of lerobot enters the package's dependencies: the package is not installed here,
# commands run with PYTHONPATH=<checkout>.
#
# Usage: scripts/metaworld_baseline/setup_env.sh [VENV_DIR]
#   DP_VENV          default ~/.cache/action_images_ros/dp-venv
#   PYTHON312        interpreter (default: python3.12 on PATH, else pyenv's 3.12.1)
#   LEROBOT_VERSION  default 0.6.1
# Prints the venv path on success. Idempotent: a second run with the same requirements is quick.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${1:-${DP_VENV:-$HOME/.cache/action_images_ros/dp-venv}}"
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
stamp="$( (echo "$version"; cat "$repo/requirements/python.txt" \
  "$repo/requirements/metaworld.txt" "$repo/scripts/metaworld_baseline/setup_env.sh") \
  | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && "$(cat "$venv/.action_images_stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "$venv"
  exit 0
fi
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
# The machine-wide pip constraints pin wheels built for the project's Python 3.11.
export PIP_CONSTRAINT=""
pip() {
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "^WARNING: Location .* is ignored" || true; } >&2
  return "${PIPESTATUS[0]}"
}
# lerobot's `metaworld` extra pins metaworld 3.0.0; the benchmark records with 3.1.1, so that
# one is named here instead (it installs beside lerobot 0.6.1: mujoco 3.3.0, gymnasium 1.x).
pip "lerobot[training,diffusion]==${version}" -r "$repo/requirements/python.txt" \
  -r "$repo/requirements/metaworld.txt" "mujoco==3.3.0"
"$venv/bin/python" -c "
import lerobot, metaworld, mujoco, diffusers
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
print('lerobot', lerobot.__version__, 'mujoco', mujoco.__version__, 'diffusers', diffusers.__version__)
" >&2
echo "$stamp" > "$venv/.action_images_stamp"
echo "$venv"
