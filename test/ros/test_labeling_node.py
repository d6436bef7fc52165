"""The labeling node draws action images over the sim's cameras and publishes markers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from visualization_msgs.msg import MarkerArray

from action_images_ros.msg import ActionImageSet
from action_images_ros.nodes.image_conversions import image_to_rgb
from action_images_ros.nodes.labeling_node import LabelingNode
from action_images_ros.sim.panda_sim import render_available

can_render, why_not = render_available()
pytestmark = pytest.mark.skipif(not can_render, reason=why_not)


@pytest.fixture(scope="module")
def calibration(running_sim: Path) -> Path:
    return running_sim


def test_overlays_action_images_and_markers(calibration) -> None:
    node = LabelingNode(
        parameter_overrides=[
            Parameter("use_sim_time", value=True),
            Parameter("calibration_file", value=str(calibration)),
        ]
    )
    probe = Node("labeling_probe")
    overlays: list[Image] = []
    sets: list[ActionImageSet] = []
    markers: list[MarkerArray] = []
    raw: list[Image] = []
    probe.create_subscription(Image, "/labeling/front/overlay", overlays.append, 10)
    probe.create_subscription(Image, "/front/image_raw", raw.append, qos_profile_sensor_data)
    probe.create_subscription(ActionImageSet, "/labeling/action_images", sets.append, 10)
    probe.create_subscription(MarkerArray, "/labeling/path_markers", markers.append, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (overlays and sets and markers):
        time.sleep(0.05)
    executor.shutdown()
    spinner.join(timeout=5.0)  # no callback may run on a node being destroyed
    node.destroy_node()
    probe.destroy_node()
    assert overlays and sets and markers, node.status

    action_set = sets[-1]
    assert len(action_set.images) == 3 and len(action_set.camera_infos) == 3
    assert action_set.camera_poses[0].child_frame_id == "front_optical_frame"
    action_image = image_to_rgb(action_set.images[0])
    assert action_image.shape == (64, 64, 3)
    assert action_image[..., 0].max() > 200, "the end-effector blob is drawn"
    overlay = image_to_rgb(overlays[-1])
    assert overlay.shape == (64, 64, 3)
    frame = next(image_to_rgb(m) for m in raw if m.header.stamp == overlays[-1].header.stamp)
    assert np.abs(overlay.astype(int) - frame).max() > 50, "the overlay changes the frame"
    line, tip = markers[-1].markers
    assert line.type == line.LINE_STRIP and len(line.points) >= 1
    assert tip.color.g > tip.color.r, "the sim starts with the gripper open (green)"
