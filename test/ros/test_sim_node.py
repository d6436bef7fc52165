"""The sim node behaves like a ros2_control robot: real processes, real DDS."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
import yaml
from node_processes import ros_parameters, stop
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.nodes.conversions import joint_trajectory_to_msg
from action_images_ros.sim.panda_sim import render_available

can_render, why_not = render_available()
pytestmark = pytest.mark.skipif(not can_render, reason=why_not)

CAMERAS = ("front", "left", "right")
ARM = [f"panda_joint{i}" for i in range(1, 8)]


class Probe(Node):
    """Listens to everything the sim publishes and commands it."""

    def __init__(self) -> None:
        super().__init__("sim_probe")
        self.images: dict[str, list[Image]] = {c: [] for c in CAMERAS}
        self.infos: dict[str, CameraInfo] = {}
        self.joint_state: JointState | None = None
        self.clock: Clock | None = None
        for camera in CAMERAS:
            self.create_subscription(
                Image, f"/{camera}/image_raw", self.images[camera].append, qos_profile_sensor_data
            )
            self.create_subscription(
                CameraInfo,
                f"/{camera}/camera_info",
                lambda m, c=camera: self.infos.__setitem__(c, m),
                qos_profile_sensor_data,
            )
        self.create_subscription(JointState, "/joint_states", self._on_joints, 10)
        self.create_subscription(Clock, "/clock", lambda m: setattr(self, "clock", m), 10)
        self.trajectory = self.create_publisher(
            JointTrajectory, "/panda_arm_controller/joint_trajectory", 10
        )
        self.gripper = self.create_publisher(Float64MultiArray, "/gripper_controller/commands", 10)

    def _on_joints(self, msg: JointState) -> None:
        self.joint_state = msg

    def arm(self) -> np.ndarray:
        return np.array(self.joint_state.position[:7])

    def spin_until(self, condition, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.05)
            if condition():
                return True
        return False


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim")
    log = open(tmp / "sim.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "action_images_ros.nodes.sim_node", "--ros-args"]
        + ros_parameters(
            image_width=64,
            image_height=48,
            render_rate=10.0,
            calibration_file=tmp / "calibration.yaml",
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RCUTILS_LOGGING_USE_STDOUT": "1"},
    )
    rclpy.init()
    probe = Probe()
    ready = probe.spin_until(
        lambda: probe.joint_state is not None and all(probe.images.values()) and probe.infos,
        timeout=60.0,
    )
    assert ready, f"sim did not come up: {(tmp / 'sim.log').read_text()[-2000:]}"
    yield probe, tmp
    probe.destroy_node()
    rclpy.shutdown()
    stop(process)
    log.close()


def test_cameras_publish_one_stamp_per_set_and_match_calibration(sim) -> None:
    probe, tmp = sim
    probe.spin_until(lambda: all(len(v) >= 4 for v in probe.images.values()))
    stamps = [
        {(m.header.stamp.sec, m.header.stamp.nanosec) for m in probe.images[c]} for c in CAMERAS
    ]
    assert stamps[0] & stamps[1] & stamps[2], "cameras of one rendered set share a stamp"
    image = probe.images["front"][-1]
    assert (image.width, image.height, image.encoding) == (64, 48, "rgb8")
    assert image.header.frame_id == "front_optical_frame"
    calibration = yaml.safe_load((tmp / "calibration.yaml").read_text())
    for camera in CAMERAS:
        np.testing.assert_allclose(
            np.reshape(probe.infos[camera].k, (3, 3)), calibration["cameras"][camera]["K"]
        )
        assert np.shape(calibration["cameras"][camera]["T_base_camera"]) == (4, 4)
    assert probe.clock is not None and probe.clock.clock.sec + probe.clock.clock.nanosec > 0


def test_trajectory_is_executed_and_replaced(sim) -> None:
    probe, _ = sim
    start = probe.arm()
    goal = start.copy()
    goal[0] += 0.3
    rest = np.zeros((1, 7))  # cubic: positions only would step the velocity (rejected)
    msg = joint_trajectory_to_msg(ARM, np.stack([goal]), np.array([1.0]), rest)
    probe.trajectory.publish(msg)
    assert probe.spin_until(lambda: abs(probe.arm()[0] - goal[0]) < 0.01, timeout=20)
    # A jumbled joint order is mapped by name, and a new trajectory replaces the old one.
    back = start.copy()
    order = list(reversed(range(7)))
    probe.trajectory.publish(
        joint_trajectory_to_msg([ARM[i] for i in order], back[order][None], np.array([1.0]), rest)
    )
    assert probe.spin_until(lambda: np.abs(probe.arm() - back).max() < 0.01, timeout=20)


@pytest.mark.parametrize(
    ("names", "positions", "reason"),
    [
        (ARM[:6], None, "missing"),
        ([*ARM[:6], "elbow_joint"], None, "unknown"),
        (ARM, "nan", "finite"),
        (ARM, "out_of_limits", "limit"),
        (ARM, "too_fast", "panda_joint1 velocity 4 rad/s exceeds its limit 2.175"),
    ],
)
def test_bad_trajectories_are_rejected_and_the_arm_holds(sim, names, positions, reason) -> None:
    probe, tmp = sim
    assert probe.spin_until(lambda: np.abs(probe.joint_state.velocity[:7]).max() < 1e-3)
    before = probe.arm()
    q = np.tile(before[: len(names)], (1, 1))
    if positions == "nan":
        q[0, 2] = math.nan
    elif positions == "out_of_limits":
        q[0, 3] = 1.0  # panda_joint4 must stay below -0.0698
    elif positions == "too_fast":
        q[0, 0] += 2.0  # in 0.5 s: 4 rad/s, as a real Panda would refuse
    probe.trajectory.publish(joint_trajectory_to_msg(names, q, np.array([0.5])))
    probe.spin_until(lambda: False, timeout=1.0)
    assert np.abs(probe.arm() - before).max() < 2e-3, "the arm moved on a rejected trajectory"
    log = (tmp / "sim.log").read_text().lower()
    assert "trajectory rejected" in log and reason in log


def test_gripper_closes_on_command(sim) -> None:
    probe, _ = sim
    probe.gripper.publish(Float64MultiArray(data=[0.0]))
    assert probe.spin_until(lambda: max(probe.joint_state.position[7:]) < 0.005, timeout=20)
    probe.gripper.publish(Float64MultiArray(data=[1.0]))
    assert probe.spin_until(lambda: min(probe.joint_state.position[7:]) > 0.035, timeout=20)


def test_a_reset_episode_is_paced_and_ros_time_goes_on(sim) -> None:
    """After a reset the sim runs at its real-time factor (1) again (a reset to time 0 once
    left the pacing behind, so episodes after the first raced ahead), and the ROS clock goes on
    instead of jumping back (camera consumers dropped the new episode's frames as stale)."""
    from std_srvs.srv import Trigger

    probe, _ = sim
    seconds = lambda: probe.clock.clock.sec + 1e-9 * probe.clock.clock.nanosec  # noqa: E731
    assert probe.spin_until(lambda: probe.clock is not None and seconds() > 2.0)
    client = probe.create_client(Trigger, "/sim/reset")
    assert client.wait_for_service(timeout_sec=10.0)
    before = seconds()
    future = client.call_async(Trigger.Request())
    assert probe.spin_until(future.done) and future.result().success
    last = probe.clock
    assert probe.spin_until(lambda: probe.clock is not last)  # a clock from after the reset
    start_sim, start_wall = seconds(), time.monotonic()
    assert start_sim >= before, "the ROS clock went back at the reset"
    images = len(probe.images["front"])
    # One simulated second, however long a loaded machine takes for it. Paced at real-time
    # factor 1, it cannot pass in much less than a wall second (a sim racing ahead does);
    # a slow machine only makes it take longer, so there is no upper bound to flake on.
    assert probe.spin_until(lambda: seconds() - start_sim >= 1.0, timeout=60.0)
    wall = time.monotonic() - start_wall
    assert wall > 0.75, f"1 s of sim time passed in {wall:.2f} s after the reset: not paced"
    assert len(probe.images["front"]) > images
    assert duration(probe.images["front"][-1].header.stamp) > before
    probe.destroy_client(client)


def duration(stamp) -> float:
    return stamp.sec + 1e-9 * stamp.nanosec


def test_task_and_seed_over_ros_then_reset_and_progress(sim) -> None:
    """The next episode is chosen with the parameters task and seed (set over DDS), started by
    /sim/reset; ~/task_progress then names it and measures it; an unknown task is refused."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter
    from std_srvs.srv import Trigger

    from action_images_ros.msg import TaskProgress

    probe, _ = sim
    progress: list[TaskProgress] = []
    subscription = probe.create_subscription(
        TaskProgress, "/sim/task_progress", progress.append, 10
    )
    setter = probe.create_client(SetParameters, "/sim/set_parameters")
    reset = probe.create_client(Trigger, "/sim/reset")
    assert setter.wait_for_service(timeout_sec=10.0) and reset.wait_for_service(timeout_sec=10.0)

    def set_parameters(**values):
        request = SetParameters.Request(
            parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        )
        future = setter.call_async(request)
        assert probe.spin_until(future.done)
        return future.result().results

    refused = set_parameters(task="juggle")
    assert not refused[0].successful and "reach" in refused[0].reason
    assert all(r.successful for r in set_parameters(task="pick", seed=42))
    future = reset.call_async(Trigger.Request())
    assert probe.spin_until(future.done) and future.result().message == "pick seed 42"
    assert probe.spin_until(lambda: progress and progress[-1].seed == 42)
    latest = progress[-1]
    assert latest.task == "pick" and not latest.success
    assert set(latest.measure_names) == {"lift_m", "held"}
    assert abs(dict(zip(latest.measure_names, latest.measure_values, strict=True))["lift_m"]) < 0.01
    future = reset.call_async(Trigger.Request())  # the seed advanced: the next episode
    assert probe.spin_until(future.done) and future.result().message == "pick seed 43"
    probe.destroy_subscription(subscription)
    probe.destroy_client(setter)
    probe.destroy_client(reset)


def test_robot_description_is_latched(sim) -> None:
    """A subscriber that comes late still gets the URDF text (transient local), as from
    robot_state_publisher."""
    from std_msgs.msg import String

    from action_images_ros.nodes.robot_model import LATCHED
    from action_images_ros.sim.scene import URDF_PATH

    probe, _ = sim
    received: list[String] = []
    subscription = probe.create_subscription(String, "/robot_description", received.append, LATCHED)
    assert probe.spin_until(lambda: bool(received), timeout=10.0)
    assert received[0].data == URDF_PATH.read_text()
    probe.destroy_subscription(subscription)
