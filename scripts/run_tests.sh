#!/usr/bin/env bash
# Lint and run the test suite; called by `scripts/bootstrap.sh test` inside the environment.
# Extra arguments go to pytest (e.g. `scripts/bootstrap.sh test test/unit -k codec`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== ruff"
ruff check .
ruff format --check .

echo "== pytest"
# Where rclpy is installed (always, after the bootstrap), the ros tier must run, not skip.
export ACTION_IMAGES_REQUIRE_ROS="${ACTION_IMAGES_REQUIRE_ROS:-1}"
status=0
# Two workers (pytest-xdist; each has its own ROS_DOMAIN_ID, see test/conftest.py): the ROS
# tiers mostly wait on DDS and simulated time, so two halve the suite's time on two cores.
python -m pytest --timeout=600 -n "${ACTION_IMAGES_TEST_WORKERS:-2}" "${@:-test}" || status=$?
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests: failing" >&2
fi
exit $status
