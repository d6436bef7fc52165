"""Fixtures shared by the ROS tier."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rclpy
from node_processes import ros_parameters, stop


@pytest.fixture(scope="module")
def running_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A sim node process (3 cameras at 64x64) and rclpy initialised in this process; yields
    the calibration file the sim wrote (its log is sim.log next to it)."""
    calibration = tmp_path_factory.mktemp("sim") / "calibration.yaml"
    log = (calibration.parent / "sim.log").open("w")  # read by tests: what the sim rejected
    process = subprocess.Popen(
        [sys.executable, "-m", "action_images_ros.nodes.sim_node", "--ros-args"]
        + ros_parameters(image_width=64, image_height=64, calibration_file=calibration),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    rclpy.init()
    deadline = time.monotonic() + 30
    while not calibration.exists():
        assert time.monotonic() < deadline, "the sim wrote no calibration"
        time.sleep(0.1)
    yield calibration
    rclpy.shutdown()
    stop(process)  # fails a sim that ignores SIGTERM
    log.close()
