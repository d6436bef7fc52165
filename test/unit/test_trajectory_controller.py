"""The sim's joint trajectory controller mirrors joint_trajectory_controller's semantics."""

from __future__ import annotations

import numpy as np
import pytest

from action_images_ros.sim.trajectory_controller import (
    JointTrajectoryController,
    Status,
    TrajectoryGoal,
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


def send(c: JointTrajectoryController, traj: TrajectoryGoal, now: float = 0.0):
    return c.set_trajectory(traj, now)


def ok_traj() -> TrajectoryGoal:
    return TrajectoryGoal(NAMES, [P([0.2, 0.0, 0.0], 1.0), P([0.4, 0.2, -0.2], 2.0)])


@pytest.mark.parametrize(
    ("traj", "reason"),
    [
        (TrajectoryGoal([], [P([0, 0, 0], 1.0)]), "no joint names"),
        (TrajectoryGoal(NAMES, []), "no points"),
        (TrajectoryGoal(["j1", "j1", "j2"], [P([0, 0, 0], 1.0)]), "duplicate joint names"),
        (TrajectoryGoal(["j1", "j2", "jx"], [P([0, 0, 0], 1.0)]), "unknown joint names"),
        (TrajectoryGoal(["j1", "j2"], [P([0, 0], 1.0)]), "missing joints: ['j3']"),
        (TrajectoryGoal(NAMES, [P([0, 0], 1.0)]), "positions has 2 values for 3 joints"),
        (TrajectoryGoal(NAMES, [P([0, 0, 0], 1.0, [0, 0])]), "velocities has 2 values"),
        (TrajectoryGoal(NAMES, [P([0, 0, 0], 1.0, [0, 0, 0], [0])]), "accelerations has 1"),
        (TrajectoryGoal(NAMES, [P([0, np.nan, 0], 1.0)]), "non-finite positions"),
        (TrajectoryGoal(NAMES, [P([0, 0, 0], 1.0, [0, np.inf, 0])]), "non-finite velocities"),
        (TrajectoryGoal(NAMES, [P([0, 0, 0], np.nan)]), "invalid time_from_start"),
        (TrajectoryGoal(NAMES, [P([0, 0, 0], -1.0)]), "invalid time_from_start"),
        (TrajectoryGoal(NAMES, [P([0, 0, 0], 1.0), P([0, 0, 0], 1.0)]), "not strictly increasing"),
        (TrajectoryGoal(NAMES, [P([0, 0, 0], 2.0), P([0, 0, 0], 1.0)]), "not strictly increasing"),
        (TrajectoryGoal(NAMES, [P([0, 1.5, 0], 1.0)]), "j2 position 1.5000 outside limits"),
        (
            TrajectoryGoal(NAMES, [P([0, 0, 0], 1.0, [0, 3.0, 0]), P([0, 0, 0], 2.0, [0, 0, 0])]),
            "j2 velocity exceeds",
        ),
        (TrajectoryGoal(NAMES, [P([0, 0, 0], 1.0, [0.1, 0, 0])]), "non-zero velocity"),
        (TrajectoryGoal(NAMES, [P([0, 0, 0], 1.0)], start_time=2.0), "already past"),
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
    assert not send(ctrl, TrajectoryGoal(NAMES, [P([0, 5, 0], 1.0)]), now=0.5).accepted
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
    traj = TrajectoryGoal(["j3", "j1", "j2"], [P([0.3, 0.1, 0.2], 1.0, [0, 0, 0])])
    assert send(ctrl, traj).accepted
    np.testing.assert_allclose(ctrl.sample(1.0)[0], [0.1, 0.2, 0.3])
    bad = TrajectoryGoal(["j3", "j1", "j2"], [P([0.3, 0.1, 1.5], 1.0)])
    assert "j2 position 1.5000" in send(ctrl, bad).reason


def test_cubic_hermite_with_velocities(ctrl: JointTrajectoryController) -> None:
    pts = [P([0.5, 0.0, 0.0], 1.0, [0.5, 0.0, 0.0]), P([1.0, 0.0, 0.0], 2.0, [0, 0, 0])]
    assert send(ctrl, TrajectoryGoal(NAMES, pts)).accepted
    pos, vel = ctrl.sample(0.0)
    np.testing.assert_allclose(pos, START, atol=1e-12)
    np.testing.assert_allclose(vel, 0.0, atol=1e-12)  # from the hold, at rest
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
    assert send(ctrl, TrajectoryGoal(NAMES, pts)).accepted
    assert ctrl.desired_state(1.0)[2][0] == pytest.approx(1.0)
    assert ctrl.desired_state(2.0 - 1e-9)[2][0] == pytest.approx(0.0, abs=1e-6)
    assert ctrl.sample(1.0 + 1e-9)[0][0] == pytest.approx(0.5)


def test_new_trajectory_replaces_and_splines_from_the_desired_state(
    ctrl: JointTrajectoryController,
) -> None:
    moving = [
        P([0.5, 0.0, 0.0], 1.0, [0.5, 0, 0], [0, 0, 0]),
        P([1.0, 0, 0], 2.0, [0] * 3, [0] * 3),
    ]
    assert send(ctrl, TrajectoryGoal(NAMES, moving)).accepted
    now = 0.7
    q, dq, ddq = ctrl.desired_state(now)
    assert abs(dq[0]) > 0.1 and abs(ddq[0]) > 0.01  # mid-motion
    new = TrajectoryGoal(NAMES, [P([-0.5, -0.5, -0.5], 2.0, [0] * 3, [0] * 3)])
    assert send(ctrl, new, now=now).accepted
    q2, dq2, ddq2 = ctrl.desired_state(now)  # continues the motion at the switch
    np.testing.assert_allclose(q2, q)
    np.testing.assert_allclose(dq2, dq)
    np.testing.assert_allclose(ddq2, ddq)
    # the old points (1.0 at t = 2) are gone: the new goal is reached at now + 2
    np.testing.assert_allclose(ctrl.sample(now + 2.0)[0], [-0.5, -0.5, -0.5])
    assert ctrl.end_time == pytest.approx(now + 2.0)


def test_positions_only_after_a_motion_starts_from_where_the_motion_is(
    ctrl: JointTrajectoryController,
) -> None:
    assert send(ctrl, ok_traj()).accepted
    now = 0.5
    current = ctrl.sample(now)[0]
    new = TrajectoryGoal(NAMES, [P([-0.5, -0.5, -0.5], 1.0)])
    assert send(ctrl, new, now=now).accepted
    np.testing.assert_allclose(ctrl.sample(now)[0], current)
    np.testing.assert_allclose(ctrl.sample(now + 0.5)[0], (current + [-0.5] * 3) / 2)


def test_first_point_at_time_zero_jumps(ctrl: JointTrajectoryController) -> None:
    traj = TrajectoryGoal(NAMES, [P([0.0, 0.0, 0.0], 0.0), P([0.2, 0.2, 0.2], 1.0)])
    unlimited = JointTrajectoryController(NAMES, [-1.0] * 3, [1.0] * 3)
    unlimited.reset(START)
    assert send(unlimited, traj, now=3.0).accepted
    np.testing.assert_allclose(unlimited.sample(3.0 + 1e-9)[0], [0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(unlimited.sample(3.5)[0], [0.1, 0.1, 0.1])
    result = send(ctrl, traj, now=3.0)  # with a velocity limit the jump is refused
    assert not result.accepted and "velocity" in result.reason


def test_future_start_time_stretches_the_first_segment(ctrl: JointTrajectoryController) -> None:
    # JTC splines from the state at receipt (t = 1) to point 0 at start_time + 1 = 3.
    traj = TrajectoryGoal(NAMES, [P([0.5, 0.5, 0.5], 1.0)], start_time=2.0)
    assert send(ctrl, traj, now=1.0).accepted
    np.testing.assert_allclose(ctrl.sample(1.0)[0], START)
    np.testing.assert_allclose(ctrl.sample(2.0)[0], (START + 0.5) / 2)
    np.testing.assert_allclose(ctrl.sample(3.0)[0], [0.5, 0.5, 0.5])
    assert ctrl.end_time == pytest.approx(3.0)


def test_partly_elapsed_trajectory_skips_old_points(ctrl: JointTrajectoryController) -> None:
    traj = TrajectoryGoal(NAMES, [P([0.9, 0.9, 0.9], 1.0), P([0.5, 0.5, 0.5], 3.0)], start_time=1.0)
    assert send(ctrl, traj, now=3.0).accepted  # point 0 was due at t = 2: ignored
    np.testing.assert_allclose(ctrl.sample(3.5)[0], (START + 0.5) / 2)


def test_status_success_and_path_tolerance_abort() -> None:
    c = JointTrajectoryController(
        NAMES, [-1] * 3, [1] * 3, path_tolerance=0.05, goal_tolerance=0.01, goal_time_tolerance=0.2
    )
    c.reset(START)
    assert c.set_trajectory(ok_traj(), 0.0).accepted
    assert c.active
    c.update(0.5, c.sample(0.5)[0])
    assert c.status is Status.EXECUTING
    c.update(2.0, [0.4, 0.2, -0.2])
    assert c.status is Status.SUCCEEDED
    # a measured state far from the command aborts and holds where the robot is
    assert c.set_trajectory(ok_traj(), 3.0).accepted
    stuck = START + [0.1, 0.0, 0.0]
    pos, vel = c.update(3.5, stuck)
    assert c.status is Status.ABORTED and "path tolerance" in c.last_reason
    np.testing.assert_allclose(pos, stuck)
    np.testing.assert_allclose(c.sample(10.0)[0], stuck)
    # goal tolerance missed after goal_time_tolerance: aborted
    assert c.set_trajectory(ok_traj(), 20.0).accepted
    c.update(22.0, [0.4, 0.2, -0.2 + 0.02])
    assert c.status is Status.EXECUTING
    c.update(22.3, [0.4, 0.2, -0.2 + 0.02])
    assert c.status is Status.ABORTED and "goal tolerance" in c.last_reason


@pytest.fixture
def panda_like() -> JointTrajectoryController:
    c = JointTrajectoryController(
        NAMES,
        [-3.0] * 3,
        [3.0] * 3,
        velocity_limits=[2.0, 2.0, 2.0],
        acceleration_limits=[15.0, 7.5, 10.0],
        jerk_limits=[7500.0, 3750.0, 5000.0],
    )
    c.reset(np.zeros(3))
    return c


def _quintic_move(target: list[float], duration: float) -> TrajectoryGoal:
    return TrajectoryGoal(NAMES, [P(target, duration, [0.0] * 3, [0.0] * 3)])


@pytest.mark.parametrize(
    ("traj", "reason"),
    [
        # positions only, J1 by 2 rad in 0.1 s: 20 rad/s
        (TrajectoryGoal(NAMES, [P([2.0, 0, 0], 0.1)]), "j1 velocity 20 rad/s exceeds its limit 2"),
        # slow, but linear from rest: the velocity steps at t = 0, a 1 kHz acceleration spike
        (TrajectoryGoal(NAMES, [P([0, 0.5, 0], 1.0)]), "j2 acceleration 500 rad/s^2 exceeds"),
        # smooth (quintic) but too quick for j3's acceleration: 5.77 * 0.3 / 0.4^2 = 10.8
        (_quintic_move([0, 0, 0.3], 0.4), "j3 acceleration 10.82 rad/s^2 exceeds its limit 10"),
        # a tiny, quick quintic: within the acceleration limit, beyond the jerk limit
        (_quintic_move([0.0001, 0, 0], 0.006), "j1 jerk 1.157e+04 rad/s^3 exceeds its limit 7500"),
    ],
)
def test_motions_a_panda_would_abort_are_rejected(panda_like, traj, reason: str) -> None:
    result = send(panda_like, traj, now=1.0)
    assert not result.accepted
    assert reason in result.reason and "1000 Hz" in result.reason
    assert panda_like.status is Status.IDLE
    np.testing.assert_array_equal(panda_like.sample(1.5)[0], 0.0)


def test_motions_within_the_limits_are_accepted(panda_like) -> None:
    assert send(panda_like, _quintic_move([0.5, 0.3, -0.3], 1.0)).accepted
    assert send(panda_like, TrajectoryGoal(NAMES, [P([0, 0.2, 0], 1.0, [0.0] * 3)]), 2.0).accepted


def test_a_rejected_motion_leaves_the_active_one_running(panda_like) -> None:
    assert send(panda_like, _quintic_move([0.5, 0.3, -0.3], 1.0)).accepted
    before = [panda_like.sample(t)[0] for t in (0.6, 0.8, 1.2)]
    result = send(panda_like, TrajectoryGoal(NAMES, [P([0, 0, 0], 0.5)]), now=0.5)
    assert not result.accepted and "acceleration" in result.reason
    assert panda_like.status is Status.EXECUTING
    for t, q in zip((0.6, 0.8, 1.2), before, strict=True):
        np.testing.assert_array_equal(panda_like.sample(t)[0], q)


def test_a_replacement_is_judged_from_the_moving_state(panda_like) -> None:
    """The same goal is fine from rest and refused while the arm moves the other way fast:
    the executed spline starts from the desired velocity."""
    away = _quintic_move([0.0, 0.0, 1.0], 1.0)
    back = TrajectoryGoal(NAMES, [P([0.0, 0.0, 0.3], 0.5, [0.0] * 3, [0.0] * 3)])
    assert send(panda_like, away).accepted
    assert panda_like.desired_state(0.5)[1][2] == pytest.approx(1.875)  # j3 at its peak
    result = send(panda_like, back, now=0.5)
    assert not result.accepted and "j3" in result.reason
    fresh = JointTrajectoryController(
        NAMES,
        [-3.0] * 3,
        [3.0] * 3,
        [2.0] * 3,
        acceleration_limits=[15, 7.5, 10],
        jerk_limits=[7500, 3750, 5000],
    )
    fresh.reset(panda_like.sample(0.5)[0])
    assert send(fresh, back, now=0.5).accepted


def test_consecutive_accepted_trajectories_join_without_jumps(panda_like) -> None:
    assert send(panda_like, _quintic_move([0.0, 0.0, 1.0], 1.2)).accepted
    before = [panda_like.sample(x)[0] for x in np.arange(500, 600) * 1e-3]
    continuation = TrajectoryGoal(NAMES, [P([0.0, 0.0, 1.2], 1.0, [0.0] * 3, [0.0] * 3)])
    assert send(panda_like, continuation, now=0.6).accepted
    after = [panda_like.sample(x)[0] for x in np.arange(600, 1700) * 1e-3]
    q = np.stack(before + after)
    jerk = np.abs(np.diff(q, 3, axis=0)).max(axis=0) / 1e-3**3
    assert np.all(jerk <= np.array([7500.0, 3750.0, 5000.0]) * 1.01)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="jerk limits need one value per joint"):
        JointTrajectoryController(NAMES, [-1] * 3, [1] * 3, jerk_limits=[1.0])


def _goal(names, times, positions, velocities, accelerations, stamp) -> TrajectoryGoal:
    points = [
        P(q.tolist(), float(t), v.tolist(), a.tolist())
        for t, q, v, a in zip(times, positions, velocities, accelerations, strict=True)
    ]
    return TrajectoryGoal(names, points, start_time=stamp)


@pytest.mark.parametrize("delay", [0.0, 0.013, 0.05, 0.08, 0.094])
def test_verified_continuations_are_accepted_and_executed_as_verified(delay: float) -> None:
    """The policy node's commands (core.safety.continuation_points: the commanded motion's
    knots until start_at, then the new trajectory verified from the state there), delivered
    any time before start_at, are accepted by a controller judging the same limits and
    execute exactly the motion the safety layer verified."""
    from action_images_ros.core.safety import (
        SafetyLimits,
        continuation_points,
        limit_joint_trajectory,
    )

    names = [f"j{i}" for i in range(7)]
    limits = SafetyLimits(np.full(7, -2.8), np.full(7, 2.8), np.full(7, 2.0))
    controller = JointTrajectoryController(
        names,
        limits.lower,
        limits.upper,
        limits.velocity_limit,
        acceleration_limits=limits.acceleration_limit,
        jerk_limits=limits.jerk_limit,
        limit_tolerance=1e-6,
    )
    controller.reset(np.zeros(7))
    rng = np.random.default_rng(3)
    direction = rng.uniform(-1, 1, 7)
    commanded, tick, lead, period = None, 1.0, 0.1, 0.2  # (a stamp 0 means "now")
    for _ in range(6):  # ticks at 1.0, 1.2, ...: chunks of 0.1 s steps along a wavy path
        start_at = tick + lead
        if commanded is None:
            state = np.zeros(7), np.zeros(7), np.zeros(7)
        else:
            state = commanded[1].evaluate(start_at - commanded[0])
        steps = start_at + 0.1 * np.arange(1, 9)
        targets = np.sin(steps)[:, None] * direction * 0.8 + rng.normal(0, 0.01, (8, 7))
        safe = limit_joint_trajectory(state[0], targets, steps - start_at, limits, *state[1:])
        points = continuation_points(safe, tick, start_at, commanded)
        received = tick + delay
        before = controller.desired_state(received)
        outcome = controller.set_trajectory(_goal(names, *points, stamp=tick), received)
        assert outcome.accepted, outcome.reason
        for a, b in zip(controller.desired_state(received), before, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-9)  # no jump on receipt
        probe = np.linspace(start_at, start_at + safe.times[-1], 50)
        verified = safe.spline().evaluate(probe - start_at)
        executed = np.array([controller.desired_state(t)[0] for t in probe])
        np.testing.assert_allclose(executed, verified[0], atol=1e-9)
        if commanded is not None:  # until start_at, the motion already commanded goes on
            bridge = np.linspace(received, start_at, 7)
            old = commanded[1].evaluate(bridge - commanded[0])[0]
            executed = np.array([controller.desired_state(t)[0] for t in bridge])
            np.testing.assert_allclose(executed, old, atol=1e-9)
        commanded, tick = (start_at, safe.spline()), tick + period
