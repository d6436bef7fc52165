"""Test tiers and the ROS environment for every test process.

- test/unit: the pure core, no ROS imports.
- test/ros: real rclpy and DDS. Each run gets its own ROS_DOMAIN_ID, discovery stays on
  localhost, and logs go to a temporary directory. Skipped (with the reason) where rclpy is
  missing, unless ACTION_IMAGES_REQUIRE_ROS=1 (set by scripts/run_tests.sh), where that fails.
- test/distro: needs packages only a ROS distribution provides (launch_pytest, tf2_ros, ...);
  those tests skip with the missing package named.
- test/lerobot: loads our LeRobot export with the real `lerobot` package, in the Python 3.12
  environment scripts/lerobot_check/setup_env.sh makes (LEROBOT_CHECK_VENV, default
  ~/.cache/action_images_ros/lerobot-venv); skipped with that reason where it is absent.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Set before anything imports rclpy; subprocesses started by tests inherit them.
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
if "PYTEST_XDIST_WORKER" in os.environ:  # parallel workers: one DDS domain each (gw0, gw1, ...)
    _worker = int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw"))
    os.environ["ROS_DOMAIN_ID"] = str(101 + (int(os.environ["ROS_DOMAIN_ID"]) + _worker) % 100)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
_LOG_DIR = None  # created here, removed at the end of the session
if "ROS_LOG_DIR" not in os.environ:
    _LOG_DIR = os.environ["ROS_LOG_DIR"] = tempfile.mkdtemp(prefix="action_images_ros_log_")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("RCUTILS_LOGGING_USE_STDOUT", "1")

TEST_ROOT = Path(__file__).parent
LEROBOT_VENV = Path(
    os.environ.get("LEROBOT_CHECK_VENV", Path.home() / ".cache/action_images_ros/lerobot-venv")
)
LEROBOT_PYTHON = LEROBOT_VENV / "bin" / "python"


@pytest.fixture
def lerobot_python() -> Path:
    """The Python of the lerobot environment (the lerobot tier skips where it is absent)."""
    return LEROBOT_PYTHON


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ros_missing = _missing("rclpy", "action_images_ros.msg")
    for item in items:
        tier = Path(item.fspath).relative_to(TEST_ROOT).parts[0]
        if tier in ("ros", "distro", "lerobot"):
            item.add_marker(getattr(pytest.mark, tier))
        if tier == "lerobot" and not LEROBOT_PYTHON.is_file():
            reason = (
                f"no lerobot environment at {LEROBOT_VENV} (make it with "
                "scripts/lerobot_check/setup_env.sh)"
            )
            item.add_marker(pytest.mark.skip(reason=reason))
        if tier == "ros" and ros_missing:
            reason = f"ROS tier needs {', '.join(ros_missing)} (run scripts/bootstrap.sh)"
            if os.environ.get("ACTION_IMAGES_REQUIRE_ROS") == "1":
                raise pytest.UsageError(f"ACTION_IMAGES_REQUIRE_ROS=1 but {reason}")
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _LOG_DIR is not None:
        shutil.rmtree(_LOG_DIR, ignore_errors=True)
    if session.testscollected == 0:
        session.config.get_terminal_writer().line(
            "ERROR: no tests were collected; a run that tests nothing fails.", red=True
        )
