"""Two processes exchange a JointTrajectory and an ActionChunk over real DDS."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from node_processes import stop
from rclpy.node import Node
from sample_messages import (
    JOINT_NAMES,
    JOINT_POSITIONS,
    JOINT_TIMES,
    JOINT_VELOCITIES,
    sample_chunk,
)
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.msg import ActionChunk
from action_images_ros.nodes.conversions import action_chunk_from_msg, duration_from_msg

PUBLISHER = Path(__file__).with_name("exchange_publisher.py")


@pytest.fixture
def publisher_process():
    process = subprocess.Popen([sys.executable, str(PUBLISHER)], cwd=PUBLISHER.parent)
    yield process
    stop(process)


def test_messages_cross_processes_intact(publisher_process: subprocess.Popen) -> None:
    rclpy.init()
    node = Node("exchange_listener")
    received: dict[str, object] = {}
    node.create_subscription(
        JointTrajectory, "exchange/joint_trajectory", lambda m: received.setdefault("traj", m), 10
    )
    node.create_subscription(
        ActionChunk, "exchange/action_chunk", lambda m: received.setdefault("chunk", m), 10
    )
    try:
        deadline = time.monotonic() + 30.0
        while len(received) < 2 and time.monotonic() < deadline:
            assert publisher_process.poll() is None, "publisher process died"
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    assert set(received) == {"traj", "chunk"}, f"received only {sorted(received)}"

    trajectory = received["traj"]
    assert list(trajectory.joint_names) == JOINT_NAMES
    np.testing.assert_allclose([p.positions for p in trajectory.points], JOINT_POSITIONS)
    np.testing.assert_allclose([p.velocities for p in trajectory.points], JOINT_VELOCITIES)
    times = [duration_from_msg(p.time_from_start) for p in trajectory.points]
    np.testing.assert_allclose(times, JOINT_TIMES, atol=1e-9)

    chunk_msg = received["chunk"]
    assert chunk_msg.header.frame_id == "panda_link0"
    assert chunk_msg.header.stamp.sec > 0, "the publisher stamps with its clock"
    chunk, expected = action_chunk_from_msg(chunk_msg), sample_chunk()
    np.testing.assert_allclose(chunk.positions, expected.positions)
    np.testing.assert_allclose(chunk.quaternions, expected.quaternions)
    np.testing.assert_allclose(chunk.gripper_openness, expected.gripper_openness, atol=1e-7)
    np.testing.assert_allclose(chunk.times, expected.times, atol=1e-9)
    np.testing.assert_allclose(chunk.confidence, expected.confidence, atol=1e-7)
    np.testing.assert_array_equal(chunk.valid, expected.valid)
