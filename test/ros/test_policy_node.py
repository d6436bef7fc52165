"""The policy node in closed loop with the sim node over real DDS.

The policy here is a test double that moves the end effector toward a fixed point from what it
observes; the node around it (synchronizer, extrinsics, receding horizon, IK, safety, watchdog,
dry run) is the real one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.policy import Observation
from action_images_ros.core.robot_assets import panda_chain
from action_images_ros.msg import ActionChunk as ActionChunkMsg
from action_images_ros.nodes.conversions import camera_info_to_msg
from action_images_ros.nodes.policy_node import PolicyNode
from action_images_ros.sim.panda_sim import render_available

can_render, why_not = render_available()
pytestmark = pytest.mark.skipif(not can_render, reason=why_not)
TARGET = np.array([0.5, 0.1, 0.25])


class TowardTarget:
    """Ten steps over one second from the observed tcp position toward TARGET."""

    def __init__(self, target: np.ndarray = TARGET) -> None:
        self.observations: list[Observation] = []
        self.target = target

    def predict(self, observation: Observation) -> ActionChunk:
        self.observations.append(observation)
        fractions = np.linspace(0.1, 1.0, 10)[:, None]
        positions = observation.ee_position + fractions * (self.target - observation.ee_position)
        quaternions = np.tile(observation.ee_quaternion, (10, 1))
        return ActionChunk.from_poses(positions, quaternions, np.ones(10), 0.1)


class Failing:
    def predict(self, observation: Observation) -> ActionChunk:
        raise RuntimeError("model exploded")


@pytest.fixture(scope="module")
def sim(running_sim: Path) -> Path:
    return running_sim


class Probe(Node):
    def __init__(self) -> None:
        super().__init__("policy_probe")
        self.joint_state: JointState | None = None
        self.commands: list[JointTrajectory] = []
        self.previews: list[JointTrajectory] = []
        self.chunks: list[ActionChunkMsg] = []
        self.diagnostics: list[str] = []
        self.create_subscription(JointState, "/joint_states", self._on_joints, 10)
        self.create_subscription(
            JointTrajectory, "/panda_arm_controller/joint_trajectory", self.commands.append, 10
        )
        self.create_subscription(
            JointTrajectory, "/policy/preview/joint_trajectory", self.previews.append, 10
        )
        self.create_subscription(ActionChunkMsg, "/policy/action_chunk", self.chunks.append, 10)
        self.create_subscription(
            DiagnosticArray,
            "/diagnostics",
            lambda m: self.diagnostics.extend(s.message for s in m.status),
            10,
        )

    def _on_joints(self, msg: JointState) -> None:
        self.joint_state = msg


def _run(
    policy, calibration: Path, seconds: float, until=None, **parameters
) -> tuple[Probe, PolicyNode]:
    """Run the policy node with a probe for `seconds`, or until `until(probe, node)` holds."""
    overrides = [
        Parameter("use_sim_time", value=True),
        Parameter("calibration_file", value=str(calibration)),
    ]
    overrides += [Parameter(name, value=value) for name, value in parameters.items()]
    node = PolicyNode(policy, parameter_overrides=overrides)
    probe = Probe()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until(probe, node)):
        time.sleep(0.05)
    executor.shutdown()
    spinner.join(timeout=5.0)  # no callback may run on a node being destroyed
    node.destroy_node()
    probe.destroy_node()
    return probe, node


def _tcp(probe: Probe) -> np.ndarray:
    return panda_chain().fk(np.array(probe.joint_state.position[:7]))[:3, 3]


def test_dry_run_previews_and_never_moves_the_arm(sim: Path) -> None:
    policy = TowardTarget()
    probe, _ = _run(policy, sim, 20.0, until=lambda probe, _: len(probe.previews) >= 3)
    assert probe.previews, "the dry run publishes its trajectories on the preview topic"
    assert not probe.commands, "no command reaches the controller without enable_control"
    assert probe.chunks and len(probe.chunks[0].poses) == 10
    observation = policy.observations[0]
    assert observation.images.shape == (3, 64, 64, 3)
    assert np.linalg.norm(_tcp(probe) - TARGET) > 0.05


def test_closed_loop_reaches_the_target_within_limits(sim: Path) -> None:
    policy = TowardTarget()
    sim_log = sim.parent / "sim.log"
    logged = sim_log.stat().st_size
    probe, node = _run(
        policy,
        sim,
        30.0,
        until=lambda probe, _: (
            probe.joint_state is not None and np.linalg.norm(_tcp(probe) - TARGET) < 0.015
        ),
        enable_control=True,
    )
    assert len(policy.observations) >= 3, "receding horizon: chunks keep coming"
    stamps = [o.stamp for o in policy.observations]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert np.linalg.norm(_tcp(probe) - TARGET) < 0.02
    with sim_log.open() as log:  # verified from where the sim's controller splines from
        log.seek(logged)
        assert "trajectory rejected" not in log.read(), "the sim refused a command"
    for trajectory in probe.commands:
        velocities = np.array([p.velocities for p in trajectory.points])
        assert np.all(np.abs(velocities) <= node.limits.velocity_limit + 1e-9)
        positions = np.array([p.positions for p in trajectory.points])
        assert np.all(positions >= node.limits.lower) and np.all(positions <= node.limits.upper)


class ContinuingTowardTarget(TowardTarget):
    """TowardTarget that continues from the given actions (real-time chunking), as
    VideoActionPolicy does: the given steps come back first, unchanged."""

    accepts_given_actions = True
    frame_interval = 0.1

    def predict(self, observation: Observation) -> ActionChunk:
        chunk = super().predict(observation)
        given = observation.given_actions
        if given is None:
            return chunk
        n = min(len(given), len(chunk) - 1)
        positions, quaternions = chunk.positions.copy(), chunk.quaternions.copy()
        positions[:n], quaternions[:n] = given.positions[:n], given.quaternions[:n]
        return ActionChunk.from_poses(positions, quaternions, np.ones(len(chunk)), 0.1)


def test_inpainting_gives_the_policy_the_steps_that_execute_while_it_runs(sim: Path) -> None:
    target = TARGET + [0.0, -0.2, 0.1]  # elsewhere than where the other tests leave the arm
    policy = ContinuingTowardTarget(target)
    probe, node = _run(
        policy,
        sim,
        30.0,
        until=lambda probe, _: (
            probe.joint_state is not None and np.linalg.norm(_tcp(probe) - target) < 0.015
        ),
        enable_control=True,
        chunk_merge="inpaint",
    )
    assert np.linalg.norm(_tcp(probe) - target) < 0.02, "the arm still gets there"
    assert node.latency > 0, "the node measures how long inference takes"
    given = [o.given_actions for o in policy.observations if o.given_actions is not None]
    assert policy.observations[0].given_actions is None, "nothing is planned at the start"
    assert given, "later chunks are asked to continue the plan"
    for steps in given:
        np.testing.assert_allclose(steps.times, 0.1 * np.arange(1, len(steps) + 1))
        assert np.all(np.linalg.norm(steps.positions - target, axis=1) < 0.6)


def test_inpainting_needs_a_policy_that_takes_given_actions(sim: Path) -> None:
    with pytest.raises(ValueError, match="cannot continue from given actions"):
        _run(Failing(), sim, 0.1, chunk_merge="inpaint")


def test_failing_inference_is_reported_and_commands_nothing(sim: Path) -> None:
    probe, node = _run(
        Failing(),
        sim,
        20.0,
        until=lambda probe, node: any("model exploded" in m for m in probe.diagnostics),
        enable_control=True,
    )
    assert node.failures > 0
    assert not probe.commands
    assert any("model exploded" in message for message in probe.diagnostics)


def test_missing_camera_commands_nothing_and_says_why(sim: Path) -> None:
    probe, node = _run(TowardTarget(), sim, 2.0, enable_control=True, cameras=["/front", "/top"])
    assert not probe.commands
    assert "/top" in node.status


def test_missing_calibration_is_reported_and_commands_nothing(sim: Path, tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    probe, node = _run(
        TowardTarget(),
        sim,
        10.0,
        until=lambda _, node: "does not exist" in node.status,
        enable_control=True,
        calibration_file=str(missing),
    )
    assert f"calibration file {missing} does not exist" in node.status
    assert not probe.commands


def test_the_checkpoint_is_required_and_errors_name_it(sim: Path) -> None:
    calibration = [Parameter("calibration_file", value=str(sim))]
    with pytest.raises(ValueError, match="'checkpoint' must name a model directory"):
        PolicyNode(parameter_overrides=calibration)
    with pytest.raises(ValueError, match="cannot load a model from '/models/x'"):
        PolicyNode(parameter_overrides=[*calibration, Parameter("checkpoint", value="/models/x")])


class FarAway:
    """Targets two metres away: outside the arm's reach."""

    def predict(self, observation: Observation) -> ActionChunk:
        positions = np.tile([2.0, 0.0, 0.3], (5, 1))
        quaternions = np.tile(observation.ee_quaternion, (5, 1))
        return ActionChunk.from_poses(positions, quaternions, np.ones(5), 0.1)


def test_unreachable_targets_are_not_commanded(sim: Path) -> None:
    probe, node = _run(
        FarAway(),
        sim,
        20.0,
        until=lambda _, node: "IK found no solution" in node.last_error,
        enable_control=True,
        workspace_min=[-3.0, -3.0, -1.0],
        workspace_max=[3.0, 3.0, 3.0],
        max_tcp_speed=100.0,  # else refused as a jump before IK is tried
    )
    assert "IK found no solution" in node.last_error
    assert not probe.commands


@pytest.mark.parametrize(
    ("encoding", "width", "message"),
    [("yuv422", 64, "unsupported image encoding 'yuv422'"), ("rgb8", 32, "camera_info says 64x64")],
)
def test_bad_images_are_refused_and_named(
    sim: Path, encoding: str, width: int, message: str
) -> None:
    """A camera whose images cannot be used: the node says why and commands nothing."""
    camera = Node("bad_camera")
    images = camera.create_publisher(Image, "/bad/image_raw", qos_profile_sensor_data)
    infos = camera.create_publisher(CameraInfo, "/bad/camera_info", qos_profile_sensor_data)

    def publish() -> None:
        header = Header(stamp=camera.get_clock().now().to_msg(), frame_id="bad_optical_frame")
        infos.publish(camera_info_to_msg(np.eye(3), 64, 64, header))
        images.publish(
            Image(
                header=header,
                height=64,
                width=width,
                encoding=encoding,
                step=width * 3,
                data=bytes(64 * width * 3),
            )
        )

    camera.create_timer(0.05, publish)
    spinner = SingleThreadedExecutor()
    spinner.add_node(camera)
    thread = threading.Thread(target=spinner.spin, daemon=True)
    thread.start()
    try:
        probe, node = _run(
            TowardTarget(),
            sim,
            20.0,
            until=lambda _, node: message in node.last_error,
            enable_control=True,
            cameras=["/front", "/bad"],
        )
    finally:
        spinner.shutdown()
        camera.destroy_node()
    assert message in node.last_error
    assert not probe.commands
