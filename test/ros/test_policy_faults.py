"""The policy node under faults and driven from outside, over real DDS, against FakeRobot.

Each test runs the real node (synchronizer, joint-state intake, IK, safety, services,
diagnostics) with a test-double policy on the node clock (no sim time): faults are switched on
in FakeRobot and the node's outputs are read back from the topics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rclpy
from fake_robot import CONTROLLER, HOME, PREVIEW, FakeRobot, encoded_stamp, write_calibration
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.policy import Observation
from action_images_ros.core.robot_assets import PANDA_URDF as URDF_PATH
from action_images_ros.core.robot_assets import panda_chain
from action_images_ros.nodes.policy_node import PolicyNode
from action_images_ros.srv import SetTask

OK, WARN = 0, 1


@pytest.fixture(scope="module", autouse=True)
def ros() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.shutdown()


class Toward:
    """Ten steps over one second from the observed tcp toward a point 5 cm away; knows the
    tasks 'reach' and 'pick' (set_task refuses others as VideoActionPolicy does)."""

    tasks = ["", "reach", "pick"]

    def __init__(self, offset=(0.05, 0.0, -0.05)) -> None:
        self.offset = np.asarray(offset)
        self.observations: list[Observation] = []
        self.task, self.seeds = "", []

    def chunk(self, observation: Observation) -> ActionChunk:
        fractions = np.linspace(0.1, 1.0, 10)[:, None]
        positions = observation.ee_position + fractions * self.offset
        quaternions = np.tile(observation.ee_quaternion, (10, 1))
        return ActionChunk.from_poses(positions, quaternions, np.ones(10), 0.1)

    def predict(self, observation: Observation) -> ActionChunk:
        self.observations.append(observation)
        return self.chunk(observation)

    def set_task(self, task: str) -> None:
        if task not in self.tasks:
            raise ValueError(f"the model knows no task {task!r} (its tasks: 'reach', 'pick')")
        self.task = task

    def reset(self, seed: int = 0) -> None:
        self.seeds.append(seed)


class TurnsBad(Toward):
    """Good chunks first, then the fault `kind` in every chunk."""

    def __init__(self, kind: str, good: int = 3) -> None:
        super().__init__()
        self.kind, self.good = kind, good

    def chunk(self, observation: Observation) -> ActionChunk:
        chunk = super().chunk(observation)
        if len(self.observations) <= self.good:
            return chunk
        positions, gripper = chunk.positions.copy(), chunk.gripper_openness.copy()
        if self.kind == "nan":  # what a decoder producing NaN amounts to: ActionChunkError
            positions[3, 1] = np.nan
        elif self.kind == "jump":
            positions[5:] += [0.0, 0.6, 0.0]  # across the workspace in one 0.1 s step
        elif self.kind == "gripper_flips":
            gripper[::2] = 0.0
        return ActionChunk(
            positions, chunk.quaternions, gripper, chunk.times, chunk.confidence, chunk.valid
        )


@contextmanager
def running(
    policy, tmp_path: Path, faults: dict | None = None, **parameters
) -> Iterator[tuple[FakeRobot, PolicyNode]]:
    settings = {
        "cameras": ["/cam"],
        "calibration_file": str(write_calibration(tmp_path / "cal.yaml")),
        "urdf": str(URDF_PATH),
        "controller_topic": CONTROLLER,
        "preview_topic": PREVIEW,
        "control_rate": 10.0,
        "enable_control": True,
        "error_age": 1.0,
        # The fake arm stays where it is, whatever is commanded: a controller that splines
        # from the measured state (JTC's default) is the one that fits it.
        "controller_open_loop": False,
        **parameters,
    }
    robot = FakeRobot()
    for name, value in (faults or {}).items():  # from the first message on
        setattr(robot, name, value)
    node = PolicyNode(
        policy, parameter_overrides=[Parameter(k, value=v) for k, v in settings.items()]
    )
    executor = SingleThreadedExecutor()
    executor.add_node(robot)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        yield robot, node
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)  # no callback may run on a node being destroyed
        node.destroy_node()
        robot.destroy_node()


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def is_hold(msg: JointTrajectory) -> bool:
    """A trajectory that stays where it ends (a braking point may come first), at rest."""
    positions = np.array([p.positions for p in msg.points])
    return bool(
        np.abs(positions - positions[-1]).max() < 5e-3
        and not np.any(np.asarray(msg.points[-1].velocities))
    )


def motions(msgs: list[JointTrajectory]) -> list[JointTrajectory]:
    return [m for m in msgs if not is_hold(m)]


def assert_within_limits(msgs: list[JointTrajectory], node: PolicyNode) -> None:
    for msg in msgs:
        positions = np.array([p.positions for p in msg.points])
        velocities = np.array([p.velocities for p in msg.points])
        accelerations = np.array([p.accelerations for p in msg.points])
        assert np.all(np.isfinite(positions))
        assert np.all(positions >= node.limits.lower) and np.all(positions <= node.limits.upper)
        assert np.all(np.abs(velocities) <= node.limits.velocity_limit + 1e-9)
        assert np.all(np.abs(accelerations) <= node.limits.acceleration_limit + 1e-9)


def commanding(robot: FakeRobot, count: int = 2) -> Callable[[], bool]:
    return lambda: len(motions(robot.taken()[0])) >= count


def stops_with_a_hold(robot: FakeRobot, node: PolicyNode) -> None:
    """After a fault: one hold at the current (home) position, then no motion for a while."""
    assert wait_until(lambda: is_hold(robot.taken()[0][-1])), "no hold trajectory after the fault"
    hold = robot.taken()[0][-1]
    np.testing.assert_allclose(hold.points[0].positions, HOME, atol=2e-3)
    settled = len(robot.taken()[0])
    time.sleep(0.6)  # several control periods
    assert len(robot.taken()[0]) == settled, "commands went on after the hold"


def test_services_enable_set_task_and_reset(tmp_path: Path) -> None:
    policy = Toward()
    with running(policy, tmp_path, enable_control=False, seed=7) as (robot, node):
        assert wait_until(lambda: len(robot.taken()[1]) >= 2), node.status
        assert not robot.taken()[0], "a dry run commands nothing"
        client = Node("service_client")
        executor = SingleThreadedExecutor()
        executor.add_node(client)

        def call(service_type, name: str, request):
            proxy = client.create_client(service_type, name)
            assert proxy.wait_for_service(timeout_sec=10.0), name
            future = proxy.call_async(request)
            executor.spin_until_future_complete(future, timeout_sec=10.0)
            return future.result()

        try:
            reply = call(SetBool, "/policy/enable", SetBool.Request(data=True))
            assert reply.success and CONTROLLER in reply.message
            assert wait_until(commanding(robot)), node.status
            assert node.get_parameter("enable_control").value is True

            refused = call(SetTask, "/policy/set_task", SetTask.Request(task="fly"))
            assert not refused.success and "'reach', 'pick'" in refused.message
            accepted = call(SetTask, "/policy/set_task", SetTask.Request(task="pick"))
            assert accepted.success and policy.task == "pick"
            assert node.get_parameter("task").value == "pick"

            reset = call(Trigger, "/policy/reset", Trigger.Request())
            assert reset.success and policy.seeds == [7] and "seed 7" in reset.message
            chunks = len(policy.observations)
            assert wait_until(lambda: len(policy.observations) > chunks), "no chunk after reset"

            parameters = SetParameters.Request(
                parameters=[Parameter("task", value="nowhere").to_parameter_msg()]
            )
            result = call(SetParameters, "/policy/set_parameters", parameters).results[0]
            assert not result.successful and "nowhere" in result.reason

            commands_before = len(robot.taken()[0])
            reply = call(SetBool, "/policy/enable", SetBool.Request(data=False))
            assert reply.success and PREVIEW in reply.message
            assert wait_until(lambda: len(robot.taken()[0]) > commands_before)
            assert is_hold(robot.taken()[0][-1]), "disabling holds the arm first"
            previews = len(robot.taken()[1])
            assert wait_until(lambda: len(robot.taken()[1]) > previews), "back to the preview"
            stopped = len(robot.taken()[0])
            time.sleep(0.5)
            assert len(robot.taken()[0]) == stopped
        finally:
            executor.shutdown()
            client.destroy_node()
        assert_within_limits(robot.taken()[0] + robot.taken()[1], node)


def test_future_stamped_joint_state_then_silence_holds_and_recovers(tmp_path: Path) -> None:
    """One /joint_states stamped 100 s ahead, then none: the stamp is refused (the watchdog
    once saw `now - stamp < timeout` for ever and kept commanding); the arm holds; when joint
    states return the node commands again and /diagnostics goes back to OK."""
    with running(Toward(), tmp_path) as (robot, node):
        assert wait_until(commanding(robot)), node.status
        robot.joint_stamp_offset = 100.0
        time.sleep(0.05)
        robot.joints_on = False
        robot.joint_stamp_offset = 0.0
        stops_with_a_hold(robot, node)
        assert "future" in node.last_error or "old" in node.last_error
        assert wait_until(lambda: any(level == WARN for level, _ in robot.diagnostics))
        robot.joints_on = True
        held = len(motions(robot.taken()[0]))
        assert wait_until(lambda: len(motions(robot.taken()[0])) > held), node.status
        robot.diagnostics.clear()
        assert wait_until(lambda: robot.diagnostics and robot.diagnostics[-1][0] == OK, 8.0)
        assert_within_limits(robot.taken()[0], node)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (JointState(name=[f"panda_joint{i}" for i in range(1, 8)], position=[]), "0 positions"),
        (JointState(name=["panda_joint1", "panda_joint2"], position=[0.0, 0.0]), "lacks"),
        (
            JointState(
                name=[f"panda_joint{i}" for i in range(1, 8)],
                position=[0.0, float("nan"), 0, -2.3, 0, 1.5, 0.7],
            ),
            "non-finite",
        ),
    ],
    ids=["no_positions", "missing_joints", "nan"],
)
def test_malformed_joint_states_are_refused_and_the_node_recovers(
    tmp_path: Path, bad: JointState, reason: str
) -> None:
    with running(Toward(), tmp_path) as (robot, node):
        assert wait_until(commanding(robot)), node.status
        robot.bad_joint_state = bad
        stops_with_a_hold(robot, node)
        assert reason in node.last_error and "refused a joint state" in node.last_error
        assert node._inference.is_alive()
        robot.bad_joint_state = None
        held = len(motions(robot.taken()[0]))
        assert wait_until(lambda: len(motions(robot.taken()[0])) > held), node.status
        assert_within_limits(robot.taken()[0], node)


def test_a_future_camera_frame_does_not_block_later_sets(tmp_path: Path) -> None:
    policy = Toward()
    with running(policy, tmp_path) as (robot, node):
        assert wait_until(lambda: len(policy.observations) >= 2), node.status
        robot.camera_stamp_offset = 1000.0
        time.sleep(0.15)
        robot.camera_stamp_offset = 0.0
        seen = len(policy.observations)
        assert wait_until(lambda: len(policy.observations) >= seen + 3), node.status
        stamps = [o.stamp for o in policy.observations]
        assert max(stamps) < time.time() + 1.0, "a future-stamped set was used"


def test_a_stopped_camera_holds_the_arm_and_restarts(tmp_path: Path) -> None:
    with running(Toward(), tmp_path) as (robot, node):
        assert wait_until(commanding(robot)), node.status
        robot.camera_on = False
        stops_with_a_hold(robot, node)
        assert "/cam" in node.last_error
        robot.camera_on = True
        held = len(motions(robot.taken()[0]))
        assert wait_until(lambda: len(motions(robot.taken()[0])) > held), node.status


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("nan", "non-finite"), ("jump", "max_tcp_speed"), ("gripper_flips", "gripper")],
)
def test_bad_model_output_is_refused_and_the_arm_holds(
    tmp_path: Path, kind: str, reason: str
) -> None:
    policy = TurnsBad(kind)
    with running(policy, tmp_path) as (robot, node):
        assert wait_until(commanding(robot)), node.status
        # the hold to check is the one after the bad chunk, not a hold from before it (a
        # start-up stall can hold the arm once while the good chunks still come)
        assert wait_until(lambda: node.failures > 0), node.status
        stops_with_a_hold(robot, node)
        assert reason in node.last_error and node.failures > 0
        assert node._inference.is_alive(), "the inference thread survives"
        assert wait_until(lambda: any(reason in m for _, m in robot.diagnostics), 5.0)
        assert_within_limits(robot.taken()[0], node)


def test_ik_failure_mid_plan_commands_only_the_solved_prefix(tmp_path: Path) -> None:
    """Steps 1-4 reachable, the rest 2 m away: each trajectory ends at rest on the last
    reachable target (the prefix), never beyond it."""

    class HalfReachable(Toward):
        def chunk(self, observation: Observation) -> ActionChunk:
            chunk = super().chunk(observation)
            positions = chunk.positions.copy()
            positions[4:] = [2.5, 0.0, 0.3]
            return ActionChunk(
                positions,
                chunk.quaternions,
                chunk.gripper_openness,
                chunk.times,
                chunk.confidence,
                chunk.valid,
            )

    policy = HalfReachable()
    with running(
        policy,
        tmp_path,
        max_tcp_speed=100.0,
        horizon=2.0,
        workspace_min=[-3.0, -3.0, -1.0],
        workspace_max=[3.0, 3.0, 3.0],
    ) as (robot, node):
        assert wait_until(commanding(robot)), node.status
        assert wait_until(lambda: "IK failed at step" in node.last_error), node.last_error
        chain = panda_chain()
        for msg in motions(robot.taken()[0]):
            last = chain.fk(np.array(msg.points[-1].positions))[:3, 3]
            assert np.linalg.norm(last[:2]) < 1.0, "commanded toward the unreachable target"
            assert not np.any(np.asarray(msg.points[-1].velocities)), "the prefix ends at rest"
        assert_within_limits(robot.taken()[0], node)


def test_observations_pair_cameras_with_the_nearest_joint_state(tmp_path: Path) -> None:
    policy = Toward()
    with running(policy, tmp_path, enable_control=False) as (robot, node):
        assert wait_until(lambda: len(policy.observations) >= 4), node.status
    for observation in policy.observations:
        paired = encoded_stamp(observation.joint_positions[0])
        assert abs(paired - np.fmod(observation.stamp, 10.0)) < 1e-3


def test_diagnostics_ok_while_waiting_for_camera_info_and_after_errors_age_out(
    tmp_path: Path,
) -> None:
    faults = {"camera_info_on": False}
    with running(Toward(), tmp_path, faults, enable_control=False) as (robot, node):
        assert wait_until(lambda: len(robot.diagnostics) >= 2, 8.0)
        assert all(level == OK for level, _ in robot.diagnostics), "start-up is not a fault"
        assert any("camera_info" in m or "no frames from /cam" in m for _, m in robot.diagnostics)
        robot.camera_info_on = True
        robot.bad_joint_state = JointState(name=["x"], position=[])
        assert wait_until(lambda: any(level == WARN for level, _ in robot.diagnostics), 8.0)
        robot.bad_joint_state = None
        robot.diagnostics.clear()
        assert wait_until(lambda: robot.diagnostics and robot.diagnostics[-1][0] == OK, 8.0)


@pytest.mark.parametrize("node_type", ["policy", "labeling"])
def test_without_a_robot_model_the_node_refuses_to_start(tmp_path: Path, node_type: str) -> None:
    """No robot_description, no urdf, nothing on /robot_description: no silent Panda."""
    from action_images_ros.nodes.labeling_node import LabelingNode

    calibration = write_calibration(tmp_path / "c.yaml")
    overrides = [
        Parameter("robot_description_timeout", value=0.5),
        Parameter("calibration_file", value=str(calibration)),
    ]
    with pytest.raises(ValueError, match="no robot model: set robot_description"):
        if node_type == "policy":
            PolicyNode(Toward(), parameter_overrides=overrides)
        else:
            LabelingNode(parameter_overrides=overrides)


def test_the_robot_model_may_be_given_as_text(tmp_path: Path) -> None:
    with running(Toward(), tmp_path, urdf="", robot_description=URDF_PATH.read_text()) as (
        robot,
        node,
    ):
        assert node.chain.dof == 7
        assert wait_until(commanding(robot)), node.status


def test_a_new_trajectory_continues_the_arm_motion(tmp_path: Path) -> None:
    """The arm reports a velocity: each trajectory starts from it (not from rest), where the
    arm will be when it takes over (command_lead after the tick, moving on at that velocity
    from the latest joint state, at most a few state periods old), and the motion JTC executes
    from there (positions, velocities and accelerations: quintic) stays within every limit."""
    velocity = np.array([0.2, -0.1, 0.0, 0.1, 0.0, 0.0, 0.0])
    with running(Toward(), tmp_path, faults={"arm_velocity": velocity}) as (robot, node):
        assert wait_until(commanding(robot, 3)), node.status
        start, spline = node._commanded
    q0, dq0, _ = spline.evaluate(0.0)
    np.testing.assert_allclose(dq0, velocity, atol=1e-9)
    lead = node.p["command_lead"]
    np.testing.assert_allclose(q0, HOME + velocity * lead, atol=0.06 * velocity.max() + 2e-3)
    peaks = spline.peaks()
    assert np.all(peaks.velocity <= node.limits.velocity_limit * (1 + 1e-6))
    assert np.all(peaks.acceleration <= node.limits.acceleration_limit * (1 + 1e-6))
    assert np.all(peaks.jerk <= node.limits.jerk_limit * (1 + 1e-6))
    assert all(len(p.accelerations) == 7 for m in robot.taken()[0] for p in m.points)
    assert_within_limits(robot.taken()[0], node)


def test_a_chunk_all_due_on_arrival_still_moves_the_arm(tmp_path: Path) -> None:
    """Inference (0.45 s) slower than the chunk (0.3 s), on the wall clock: every step is due
    by the time the chunk arrives. Its last target is kept as the goal, due one step interval
    after arrival, instead of being discarded (then the node never commanded)."""

    class Slow(Toward):
        def chunk(self, observation: Observation) -> ActionChunk:
            time.sleep(0.45)
            chunk = super().chunk(observation)
            keep = np.arange(3)
            return ActionChunk(
                chunk.positions[keep],
                chunk.quaternions[keep],
                chunk.gripper_openness[keep],
                chunk.times[keep],
                chunk.confidence[keep],
                chunk.valid[keep],
            )

    policy = Slow()
    with running(policy, tmp_path) as (robot, node):
        assert wait_until(commanding(robot, 3), 30.0), node.status
        assert node.queue.late_chunks > 0
    chain = panda_chain()
    goal = policy.chunk(policy.observations[0]).positions[-1]  # the last target of a chunk
    last = chain.fk(np.array(motions(robot.taken()[0])[-1].points[-1].positions))[:3, 3]
    assert np.linalg.norm(last - goal) < 2e-3, "the trajectory ends on the chunk's last target"
    assert_within_limits(robot.taken()[0], node)


def test_labeling_node_refuses_malformed_joint_states_and_recovers(tmp_path: Path) -> None:
    """Names without positions once raised IndexError in the labeling node's callback."""
    from sensor_msgs.msg import Image

    from action_images_ros.nodes.labeling_node import LabelingNode

    robot = FakeRobot()
    robot.bad_joint_state = JointState(name=[f"panda_joint{i}" for i in range(1, 8)], position=[])
    settings = {
        "cameras": ["/cam"],
        "urdf": str(URDF_PATH),
        "calibration_file": str(write_calibration(tmp_path / "cal.yaml")),
    }
    node = LabelingNode(parameter_overrides=[Parameter(k, value=v) for k, v in settings.items()])
    overlays: list[Image] = []
    robot.create_subscription(Image, "/labeling/cam/overlay", overlays.append, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(robot)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        assert wait_until(lambda: "no joint states" in node.status or "refused" in node.status)
        time.sleep(0.5)
        assert spinner.is_alive() and not overlays, "nothing is drawn from refused states"
        robot.bad_joint_state = None
        assert wait_until(lambda: bool(overlays)), node.status
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        node.destroy_node()
        robot.destroy_node()
