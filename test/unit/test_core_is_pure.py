"""The pure core must import without ROS: a subprocess imports every core module and checks."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import action_images_ros

PURE_PACKAGES = (
    "action_images_ros.core",
    "action_images_ros.sim",
    "action_images_ros.data",
    "action_images_ros.model",
)
ROS_MODULES = ("rclpy", "rosidl_runtime_py", "std_msgs", "sensor_msgs", "action_images_ros.msg")


def _pure_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(action_images_ros.__path__, "action_images_ros."):
        if info.name.startswith(PURE_PACKAGES) or info.name in PURE_PACKAGES:
            names.append(info.name)
    return names


def test_core_modules_import_no_ros() -> None:
    modules = _pure_modules()
    assert "action_images_ros.core.action_chunk" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({ROS_MODULES!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [], "the pure core imported ROS modules"
