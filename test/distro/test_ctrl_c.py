"""Ctrl-C on `ros2 launch action_images_ros sim.launch.py` ends every node cleanly.

A terminal's Ctrl-C sends SIGINT to the whole foreground process group, and `ros2 launch` then
forwards a second SIGINT to each node: a node must survive the second one during its shutdown.
The launch runs in its own session here and gets that group-wide SIGINT, as from a terminal.
Needs `ros2 launch` (ros2launch) and this package installed in the ament index.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
import rclpy
from sensor_msgs.msg import JointState

pytest.importorskip("ros2launch", reason="needs ros2launch (`ros2 launch`, a ROS distribution)")
ament_index = pytest.importorskip("ament_index_python.packages")


def _launch_is_installed() -> bool:
    try:
        share = ament_index.get_package_share_directory("action_images_ros")
    except ament_index.PackageNotFoundError:
        return False
    return os.path.isfile(os.path.join(share, "launch", "sim.launch.py"))


def _wait_for_joint_states(timeout: float) -> bool:
    rclpy.init()
    node = rclpy.create_node("ctrl_c_probe")
    received: list[JointState] = []
    node.create_subscription(JointState, "/joint_states", received.append, 10)
    try:
        deadline = time.monotonic() + timeout
        while not received and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return bool(received)


def test_ctrl_c_ends_the_sim_launch_without_a_traceback() -> None:
    if shutil.which("ros2") is None or not _launch_is_installed():
        pytest.skip("needs `ros2` on PATH and action_images_ros installed (colcon build)")
    process = subprocess.Popen(
        ["ros2", "launch", "action_images_ros", "sim.launch.py"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # A shell starts background commands with SIGINT ignored; a terminal's are not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert _wait_for_joint_states(timeout=60.0), "the sim published no /joint_states"
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, output
    for sign in ("Traceback", "failed to terminate", "process has died"):
        assert sign not in output, output
    assert "process has finished cleanly" in output, output
