"""The sim's joint trajectory controller mirrors joint_trajectory_controller's semantics."""

from __future__ import annotations

import numpy as np
import pytest

from action_images_ros.sim.trajectory_controller import (
    JointTrajectory,
    JointTrajectoryController,
    Status,
)
from action_images_ros.sim.trajectory_controller import TrajectoryPoint as P

NAMES = ["j1", "j2", "j3"]
START = np.array([0.1, -0.2, 0.3])


@pytest.fixture
def ctrl() -> JointTrajectoryController:
    c = JointTrajectoryController(
        NAMES, [-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], velocity_limits=[2.0, 2.0, 2.0]
    )
    c.reset(START)
    return c


def send(
    c: JointTrajectoryController,
    traj: JointTrajectory,
    now: float = 0.0,
    q: np.ndarray = START,
    dq: np.ndarray | None = None,
):
    return c.set_trajectory(traj, now, q, dq)


def ok_traj() -> JointTrajectory:
    return JointTrajectory(NAMES, [P([0.2, 0.0, 0.0], 1.0), P([0.4, 0.2, -0.2], 2.0)])


@pytest.mark.parametrize(
    ("traj", "reason"),
    [
        (JointTrajectory([], [P([0, 0, 0], 1.0)]), "no joint names"),
        (JointTrajectory(NAMES, []), "no points"),
        (JointTrajectory(["j1", "j1", "j2"], [P([0, 0, 0], 1.0)]), "duplicate joint names"),
        (JointTrajectory(["j1", "j2", "jx"], [P([0, 0, 0], 1.0)]), "unknown joint names"),
        (JointTrajectory(["j1", "j2"], [P([0, 0], 1.0)]), "missing joints: ['j3']"),
        (JointTrajectory(NAMES, [P([0, 0], 1.0)]), "positions has 2 values for 3 joints"),
        (JointTrajectory(NAMES, [P([0, 0, 0], 1.0, [0, 0])]), "velocities has 2 values"),
        (JointTrajectory(NAMES, [P([0, 0, 0], 1.0, [0, 0, 0], [0])]), "accelerations has 1"),
        (JointTrajectory(NAMES, [P([0, np.nan, 0], 1.0)]), "non-finite positions"),
        (JointTrajectory(NAMES, [P([0, 0, 0], 1.0, [0, np.inf, 0])]), "non-finite velocities"),
        (JointTrajectory(NAMES, [P([0, 0, 0], np.nan)]), "invalid time_from_start"),
        (JointTrajectory(NAMES, [P([0, 0, 0], -1.0)]), "invalid time_from_start"),
        (JointTrajectory(NAMES, [P([0, 0, 0], 1.0), P([0, 0, 0], 1.0)]), "not strictly increasing"),
        (JointTrajectory(NAMES, [P([0, 0, 0], 2.0), P([0, 0, 0], 1.0)]), "not strictly increasing"),
        (JointTrajectory(NAMES, [P([0, 1.5, 0], 1.0)]), "j2 position 1.5000 outside limits"),
        (
            JointTrajectory(NAMES, [P([0, 0, 0], 1.0, [0, 3.0, 0]), P([0, 0, 0], 2.0, [0, 0, 0])]),
            "j2 velocity exceeds",
        ),
        (JointTrajectory(NAMES, [P([0, 0, 0], 1.0, [0.1, 0, 0])]), "non-zero velocity"),
        (JointTrajectory(NAMES, [P([0, 0, 0], 1.0)], start_time=2.0), "already past"),
    ],
)
def test_rejections_hold_still(ctrl: JointTrajectoryController, traj, reason: str) -> None:
    result = send(ctrl, traj, now=5.0)
    assert not result.accepted
    assert reason in result.reason
    assert ctrl.last_reason == result.reason
    assert ctrl.status is Status.IDLE
    for t in (5.0, 5.5, 10.0):
        pos, vel = ctrl.sample(t)
        np.testing.assert_array_equal(pos, START)
        np.testing.assert_array_equal(vel, 0.0)


def test_rejected_trajectory_leaves_active_one(ctrl: JointTrajectoryController) -> None:
    assert send(ctrl, ok_traj()).accepted
    before = ctrl.sample(1.5)
    assert not send(ctrl, JointTrajectory(NAMES, [P([0, 5, 0], 1.0)]), now=0.5).accepted
    np.testing.assert_array_equal(ctrl.sample(1.5)[0], before[0])
    assert ctrl.status is Status.EXECUTING


def test_linear_interpolation_and_hold(ctrl: JointTrajectoryController) -> None:
    assert send(ctrl, ok_traj(), now=10.0).accepted
    pos, vel = ctrl.sample(10.5)  # from the current state to point 0, linearly
    np.testing.assert_allclose(pos, (START + [0.2, 0.0, 0.0]) / 2)
    np.testing.assert_allclose(vel, [0.1, 0.2, -0.3])
    np.testing.assert_allclose(ctrl.sample(11.0)[0], [0.2, 0.0, 0.0])
    np.testing.assert_allclose(ctrl.sample(11.25)[0], [0.25, 0.05, -0.05])
    for t in (12.0, 13.0, 100.0):  # holds the last point
        pos, vel = ctrl.sample(t)
        np.testing.assert_allclose(pos, [0.4, 0.2, -0.2])
        np.testing.assert_array_equal(vel, 0.0)
    assert ctrl.end_time == pytest.approx(12.0)


def test_jumbled_joint_order_is_mapped(ctrl: JointTrajectoryController) -> None:
    traj = JointTrajectory(["j3", "j1", "j2"], [P([0.3, 0.1, 0.2], 1.0, [0, 0, 0])])
    assert send(ctrl, traj).accepted
    np.testing.assert_allclose(ctrl.sample(1.0)[0], [0.1, 0.2, 0.3])
    bad = JointTrajectory(["j3", "j1", "j2"], [P([0.3, 0.1, 1.5], 1.0)])
    assert "j2 position 1.5000" in send(ctrl, bad).reason


def test_cubic_hermite_with_velocities(ctrl: JointTrajectoryController) -> None:
    pts = [P([0.5, 0.0, 0.0], 1.0, [0.5, 0.0, 0.0]), P([1.0, 0.0, 0.0], 2.0, [0, 0, 0])]
    dq0 = np.array([0.2, 0.0, 0.0])
    assert send(ctrl, JointTrajectory(NAMES, pts), q=START, dq=dq0).accepted
    pos, vel = ctrl.sample(0.0)
    np.testing.assert_allclose(pos, START, atol=1e-12)
    np.testing.assert_allclose(vel, dq0, atol=1e-12)  # starts from the current velocity
    pos, vel = ctrl.sample(1.0)
    np.testing.assert_allclose(pos[0], 0.5)
    np.testing.assert_allclose(vel[0], 0.5)
    pos, vel = ctrl.sample(1.5)  # Hermite midpoint: (p0 + p1) / 2 + h (v0 - v1) / 8
    assert pos[0] == pytest.approx(0.75 + 0.5 / 8)
    eps = 1e-6
    numeric = (ctrl.sample(1.5 + eps)[0] - ctrl.sample(1.5 - eps)[0]) / (2 * eps)
    np.testing.assert_allclose(vel, numeric, atol=1e-6)
    np.testing.assert_allclose(ctrl.sample(1.999999)[1], 0.0, atol=1e-4)


def test_quintic_with_accelerations(ctrl: JointTrajectoryController) -> None:
    pts = [P([0.5, 0, 0], 1.0, [0.5, 0, 0], [1.0, 0, 0]), P([1.0, 0, 0], 2.0, [0, 0, 0], [0] * 3)]
    assert send(ctrl, JointTrajectory(NAMES, pts)).accepted
    eps = 1e-5

    def acc(t: float) -> float:
        return (ctrl.sample(t + eps)[1][0] - ctrl.sample(t - eps)[1][0]) / (2 * eps)

    assert acc(1.0 + 2 * eps) == pytest.approx(1.0, abs=1e-3)
    assert acc(2.0 - 2 * eps) == pytest.approx(0.0, abs=1e-3)
    assert ctrl.sample(1.0 + 1e-9)[0][0] == pytest.approx(0.5)


def test_new_trajectory_replaces_and_splines_from_current_state(
    ctrl: JointTrajectoryController,
) -> None:
    assert send(ctrl, ok_traj()).accepted
    now = 0.5
    current = ctrl.sample(now)[0] + 0.01  # the measured state lags the command a little
    new = JointTrajectory(NAMES, [P([-0.5, -0.5, -0.5], 1.0)])
    assert send(ctrl, new, now=now, q=current).accepted
    np.testing.assert_allclose(ctrl.sample(now)[0], current)
    np.testing.assert_allclose(ctrl.sample(now + 0.5)[0], (current + [-0.5] * 3) / 2)
    # the old points (0.4, 0.2, -0.2 at t = 2) are gone
    np.testing.assert_allclose(ctrl.sample(2.0)[0], [-0.5, -0.5, -0.5])


def test_first_point_at_time_zero_jumps(ctrl: JointTrajectoryController) -> None:
    traj = JointTrajectory(NAMES, [P([0.0, 0.0, 0.0], 0.0), P([0.2, 0.2, 0.2], 1.0)])
    assert send(ctrl, traj, now=3.0).accepted
    np.testing.assert_allclose(ctrl.sample(3.0)[0], [0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(ctrl.sample(3.5)[0], [0.1, 0.1, 0.1])


def test_future_start_time_holds_until_start(ctrl: JointTrajectoryController) -> None:
    traj = JointTrajectory(NAMES, [P([0.5, 0.5, 0.5], 1.0)], start_time=2.0)
    assert send(ctrl, traj, now=1.0).accepted
    np.testing.assert_allclose(ctrl.sample(1.5)[0], START)
    np.testing.assert_allclose(ctrl.sample(2.5)[0], (START + 0.5) / 2)
    np.testing.assert_allclose(ctrl.sample(3.0)[0], [0.5, 0.5, 0.5])


def test_partly_elapsed_trajectory_skips_old_points(ctrl: JointTrajectoryController) -> None:
    traj = JointTrajectory(
        NAMES, [P([0.9, 0.9, 0.9], 1.0), P([0.5, 0.5, 0.5], 3.0)], start_time=1.0
    )
    assert send(ctrl, traj, now=3.0).accepted  # point 0 was due at t = 2: ignored
    np.testing.assert_allclose(ctrl.sample(3.5)[0], (START + 0.5) / 2)


def test_status_success_and_path_tolerance_abort() -> None:
    c = JointTrajectoryController(
        NAMES, [-1] * 3, [1] * 3, path_tolerance=0.05, goal_tolerance=0.01, goal_time_tolerance=0.2
    )
    c.reset(START)
    assert c.set_trajectory(ok_traj(), 0.0, START).accepted
    assert c.active
    c.update(0.5, c.sample(0.5)[0])
    assert c.status is Status.EXECUTING
    c.update(2.0, [0.4, 0.2, -0.2])
    assert c.status is Status.SUCCEEDED
    # a measured state far from the command aborts and holds where the robot is
    assert c.set_trajectory(ok_traj(), 3.0, START).accepted
    stuck = START + [0.1, 0.0, 0.0]
    pos, vel = c.update(3.5, stuck)
    assert c.status is Status.ABORTED and "path tolerance" in c.last_reason
    np.testing.assert_allclose(pos, stuck)
    np.testing.assert_allclose(c.sample(10.0)[0], stuck)
    # goal tolerance missed after goal_time_tolerance: aborted
    assert c.set_trajectory(ok_traj(), 20.0, START).accepted
    c.update(22.0, [0.4, 0.2, -0.2 + 0.02])
    assert c.status is Status.EXECUTING
    c.update(22.3, [0.4, 0.2, -0.2 + 0.02])
    assert c.status is Status.ABORTED and "goal tolerance" in c.last_reason
