"""launch_pytest tests of the package's launch files (needs launch, launch_ros, launch_pytest).

The sim launch file starts the sim node, which publishes camera images and joint states, and
shuts down cleanly when the launch ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState

try:
    import launch_pytest
    import launch_ros  # noqa: F401  (the launch files' nodes)
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription, RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch.launch_description_sources import PythonLaunchDescriptionSource
except ImportError as missing:
    pytest.skip(
        f"needs launch, launch_ros, launch_pytest (a ROS distribution): {missing}",
        allow_module_level=True,
    )

LAUNCH = Path(__file__).parents[2] / "launch"
EXITS: list[int] = []


@launch_pytest.fixture
def sim_launch() -> LaunchDescription:
    return LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(LAUNCH / "sim.launch.py")),
                launch_arguments={"task": "pick", "real_time_factor": "2.0"}.items(),
            ),
            RegisterEventHandler(
                OnProcessExit(on_exit=lambda event, context: EXITS.append(event.returncode))
            ),
            launch_pytest.actions.ReadyToTest(),
        ]
    )


@pytest.mark.launch(fixture=sim_launch)
def test_sim_launch_publishes_cameras_and_joint_states() -> None:
    rclpy.init()
    node = rclpy.create_node("launch_probe")
    received: dict[str, object] = {}
    node.create_subscription(
        Image,
        "/front/image_raw",
        lambda m: received.setdefault("image", m),
        qos_profile_sensor_data,
    )
    node.create_subscription(
        JointState, "/joint_states", lambda m: received.setdefault("joints", m), 10
    )
    try:
        deadline = time.monotonic() + 60
        while len(received) < 2 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    assert set(received) == {"image", "joints"}
    image = received["image"]
    assert (image.width, image.height, image.encoding) == (256, 256, "rgb8")
    assert len(received["joints"].position) == 9


@pytest.mark.launch(fixture=sim_launch)
def test_sim_node_exits_cleanly_at_shutdown() -> Iterator[None]:
    """Once the node runs (its joint states arrive: its signal handling is in place), the
    launch's shutdown (SIGINT) ends it with exit status 0. (Shut down before the node's
    Python code runs, the interpreter's default SIGINT handling would end it with -2.)"""
    EXITS.clear()
    rclpy.init()
    node = rclpy.create_node("exit_probe")
    states: list[JointState] = []
    node.create_subscription(JointState, "/joint_states", states.append, 10)
    try:
        deadline = time.monotonic() + 60
        while not states and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    assert states, "the sim node never published joint states"
    yield  # launch_pytest shuts the launch down here; what follows runs after that
    assert EXITS and all(code == 0 for code in EXITS), EXITS


@launch_pytest.fixture
def sim_and_labeling_launch() -> LaunchDescription:
    return LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(LAUNCH / "sim.launch.py")),
                launch_arguments={"task": "reach"}.items(),
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(LAUNCH / "labeling.launch.py"))
            ),
            launch_pytest.actions.ReadyToTest(),
        ]
    )


@pytest.mark.launch(fixture=sim_and_labeling_launch)
def test_labeling_launch_overlays_the_sim_cameras() -> None:
    rclpy.init()
    node = rclpy.create_node("labeling_probe")
    overlays: list[Image] = []
    node.create_subscription(Image, "/labeling/front/overlay", overlays.append, 10)
    try:
        deadline = time.monotonic() + 60
        while not overlays and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    assert overlays, "the labeling node published no overlay"
    assert (overlays[0].width, overlays[0].height) == (256, 256)
