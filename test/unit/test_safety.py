from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from action_images_ros.core.safety import (
    SafetyError,
    SafetyLimits,
    clamp_to_workspace,
    limit_joint_trajectory,
)

# Franka Panda limits (REFERENCE.md).
PANDA = SafetyLimits(
    lower=np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973]),
    upper=np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973]),
    max_velocity=np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61]),
    workspace_min=np.array([0.2, -0.5, 0.0]),
    workspace_max=np.array([0.8, 0.5, 0.7]),
)
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


LIMITS = (
    ("velocity", "velocity_limit"),
    ("acceleration", "acceleration_limit"),
    ("jerk", "jerk_limit"),
)


def assert_within_limits(result, limits: SafetyLimits) -> None:
    """The executed spline keeps every limit, analytically and at 1 kHz, starts at the given
    state and ends at rest."""
    spline = result.spline()
    peaks = spline.peaks()
    sampled = spline.sampled_derivatives(1e-3).peaks()
    for i, (name, limit) in enumerate(LIMITS):
        assert np.all(getattr(peaks, name) <= getattr(limits, limit) * (1 + 1e-9)), name
        assert np.all(sampled[i] <= getattr(limits, limit) * (1 + 1e-9)), name
    low = np.minimum(limits.lower, result.start_position)
    high = np.maximum(limits.upper, result.start_position)
    assert np.all(peaks.lowest >= low) and np.all(peaks.highest <= high)
    q, dq, ddq = spline.evaluate(0.0)
    np.testing.assert_allclose(q, result.start_position)
    np.testing.assert_allclose(dq, result.start_velocity)
    np.testing.assert_allclose(ddq, result.start_acceleration)
    np.testing.assert_array_equal(result.velocities[-1], 0)
    np.testing.assert_array_equal(result.accelerations[-1], 0)
    assert np.all(np.diff(result.times) > 0) and result.times[0] > 0 and result.time_scale >= 1


@st.composite
def policy_chunks(draw):
    """A policy-like chunk from a start state: drift, noise, sometimes a jump across the range;
    start velocities up to the limits, accelerations up to what still leaves room to stop."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 10))
    times = np.cumsum(rng.uniform(0.02, 0.2, n))
    start = HOME + rng.uniform(-0.2, 0.2, 7)
    chunk = start + rng.normal(0, 1.0, 7) * times[:, None] + rng.normal(0, 0.02, (n, 7))
    if draw(st.booleans()):
        chunk[rng.integers(n) :] += rng.uniform(-6, 6, 7)  # jumps, also past the limits
    velocity = rng.uniform(-1, 1, 7) * PANDA.velocity_limit * draw(st.sampled_from([0, 0.5, 1]))
    room = 1 - np.abs(velocity) / PANDA.velocity_limit
    acceleration = rng.uniform(-1, 1, 7) * PANDA.acceleration_limit * room
    return start, chunk, times, velocity, acceleration * draw(st.sampled_from([0, 1]))


@settings(max_examples=40, deadline=None)
@given(policy_chunks())
def test_no_output_ever_exceeds_the_limits(case) -> None:
    start, chunk, times, velocity, acceleration = case
    result = limit_joint_trajectory(start, chunk, times, PANDA, velocity, acceleration)
    assert_within_limits(result, PANDA)
    # the given waypoints are kept (clamped into the limits), only their timing changes
    waypoints = result.positions[1:] if result.braking else result.positions
    margin = PANDA.position_margin
    np.testing.assert_allclose(
        waypoints, np.clip(chunk, PANDA.lower + margin, PANDA.upper - margin)
    )


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, (3, 7), elements=st.floats(-6, 6)),
    arrays(np.float64, (3,), elements=st.floats(0.05, 1.0)),
)
def test_arbitrary_targets_from_rest_stay_within_the_limits(targets, gaps) -> None:
    result = limit_joint_trajectory(HOME, targets, np.cumsum(gaps), PANDA)
    assert_within_limits(result, PANDA)
    assert not result.braking


def test_a_safe_trajectory_passes_unchanged() -> None:
    targets = HOME + np.linspace(0.01, 0.1, 4)[:, None]
    times = np.array([1.0, 2.0, 3.0, 4.0])
    result = limit_joint_trajectory(HOME, targets, times, PANDA)
    np.testing.assert_array_equal(result.positions, targets)
    np.testing.assert_array_equal(result.times, times)
    assert result.clamped_joints == () and result.time_scale == 1.0 and not result.braking
    assert np.all(result.velocities[:-1, 0] > 0), "no stop at the intermediate waypoints"


def test_a_too_fast_trajectory_is_slowed_down_keeping_its_path() -> None:
    targets = HOME + np.array([[1.0, 0, 0, 0, 0, 0, 0]])
    result = limit_joint_trajectory(HOME, targets, np.array([0.1]), PANDA)
    np.testing.assert_array_equal(result.positions, targets)
    # Rest to rest over one quintic segment (minimum jerk) peaks at 1.875x the mean speed.
    assert result.times[0] == pytest.approx(1.875 * 1.0 / 2.175, rel=5e-3)
    assert_within_limits(result, PANDA)


def test_a_jerk_limited_move_is_stretched_by_the_expected_factor() -> None:
    # Limits under which a 1 rad move is bound by jerk: the minimum-jerk quintic's peak
    # jerk 60 d / T^3 meets 1 rad/s^3 at T = 60^(1/3) s.
    limits = SafetyLimits(
        np.full(7, -3.0),
        np.full(7, 3.0),
        np.full(7, 10.0),
        max_acceleration=np.full(7, 100.0),
        max_jerk=np.full(7, 1.0),
    )
    targets = np.zeros((1, 7))
    targets[0, 2] = 1.0
    result = limit_joint_trajectory(np.zeros(7), targets, np.array([0.5]), limits)
    assert result.time_scale == pytest.approx(60 ** (1 / 3) / 0.5, rel=1e-3)
    assert_within_limits(result, limits)


def test_a_moving_start_continues_without_a_velocity_jump() -> None:
    velocity = np.array([0.8, -0.5, 0.3, 0.0, 0.0, 0.0, 1.0])
    acceleration = np.array([2.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0])
    times = np.array([0.1, 0.2, 0.3])
    targets = HOME + velocity * times[:, None]  # carry on the way the arm moves
    result = limit_joint_trajectory(HOME, targets, times, PANDA, velocity, acceleration)
    spline = result.spline()
    _, dq, ddq = spline.evaluate(np.array([0.0, 1e-4]))
    np.testing.assert_allclose(dq[0], velocity)
    np.testing.assert_allclose(dq[1], velocity, atol=1e-3)
    np.testing.assert_allclose(ddq[0], acceleration)
    sampled = spline.sampled_derivatives(1e-3)
    assert np.all(np.abs(sampled.velocity[:3] - velocity) < 0.01)  # across t = 0 at 1 kHz
    assert_within_limits(result, PANDA)
    assert not result.braking and np.all(np.abs(result.velocities[:-1, 0]) > 0.1)


def test_a_start_too_fast_for_the_waypoints_brakes_first() -> None:
    # Joint 4 heads for its upper limit, 0.15 rad away, at 1.5 rad/s; the waypoint is behind.
    # No timing of the direct spline both turns in time and stays inside the limit.
    start = HOME.copy()
    start[3] = PANDA.upper[3] - 0.15
    velocity = np.zeros(7)
    velocity[3] = 1.5
    target = start[None].copy()
    target[0, 3] -= 0.5
    result = limit_joint_trajectory(start, target, np.array([0.05]), PANDA, velocity)
    assert result.braking and result.positions.shape == (2, 7)
    np.testing.assert_array_equal(result.velocities[0], 0)  # at rest at the braking point
    np.testing.assert_array_equal(result.positions[1], target[0])
    assert start[3] < result.positions[0, 3] < PANDA.upper[3]
    assert_within_limits(result, PANDA)


def test_near_a_limit_moving_toward_it_the_motion_stays_inside() -> None:
    start = HOME.copy()
    start[3] = PANDA.upper[3] - 0.3  # joint 4, 0.3 rad below its upper limit
    velocity = np.zeros(7)
    velocity[3] = 1.5
    targets = start[None].copy()
    targets[0, 3] = PANDA.upper[3]  # asks for the bound itself: clamped to the margin
    result = limit_joint_trajectory(start, targets, np.array([0.05]), PANDA, velocity)
    assert_within_limits(result, PANDA)
    assert result.clamped_joints == (3,)
    assert result.spline().peaks().highest[3] <= PANDA.upper[3]


def test_too_close_to_a_limit_to_stop_is_refused() -> None:
    start = HOME.copy()
    start[3] = PANDA.upper[3] - 0.01
    velocity = np.zeros(7)
    velocity[3] = 2.0
    with pytest.raises(SafetyError, match="joint 3 .*cannot stop within its position limits"):
        limit_joint_trajectory(start, start[None], np.array([0.1]), PANDA, velocity)


def test_positions_outside_the_limits_are_clamped_with_margin() -> None:
    targets = HOME.copy()[None]
    targets[0, 3] = 0.5  # joint 4 must stay below -0.0698
    result = limit_joint_trajectory(HOME, targets, np.array([5.0]), PANDA)
    assert result.clamped_joints == (3,)
    assert result.positions[0, 3] == pytest.approx(-0.0698 - PANDA.position_margin)


def test_scales_lower_the_limits() -> None:
    slow = SafetyLimits(PANDA.lower, PANDA.upper, PANDA.max_velocity, velocity_scale=0.1)
    targets = HOME + np.array([[0.5, 0, 0, 0, 0, 0, 0]])
    result = limit_joint_trajectory(HOME, targets, np.array([0.5]), slow)
    assert result.times[0] == pytest.approx(1.875 * 0.5 / 0.2175, rel=5e-3)
    gentle = SafetyLimits(
        PANDA.lower, PANDA.upper, PANDA.max_velocity, acceleration_scale=0.25, jerk_scale=0.5
    )
    np.testing.assert_allclose(gentle.acceleration_limit, PANDA.max_acceleration * 0.25)
    np.testing.assert_allclose(gentle.jerk_limit, PANDA.max_jerk * 0.5)
    assert_within_limits(limit_joint_trajectory(HOME, targets, np.array([0.1]), gentle), gentle)


def test_workspace_clamps_targets() -> None:
    clamped, moved = clamp_to_workspace(np.array([[1.5, 0.0, -0.2], [0.5, 0.0, 0.3]]), PANDA)
    np.testing.assert_array_equal(clamped, [[0.8, 0.0, 0.0], [0.5, 0.0, 0.3]])
    assert moved
    assert clamp_to_workspace(np.array([0.5, 0.0, 0.3]), PANDA)[1] is False


@pytest.mark.parametrize(
    ("current", "targets", "times", "message"),
    [
        (HOME, np.full((1, 7), np.nan), [1.0], "positions contains non-finite"),
        (HOME * np.nan, HOME[None], [1.0], "current contains non-finite"),
        (HOME, HOME[None], [np.inf], "times contains non-finite"),
        (HOME, HOME[None, :6], [1.0], "expected current"),
        (HOME, np.zeros((0, 7)), [], "N >= 1"),
        (HOME, np.vstack([HOME, HOME]), [1.0, 1.0], "strictly increasing"),
        (HOME, HOME[None], [0.0], "positive"),
    ],
)
def test_unsafe_commands_are_refused(current, targets, times, message) -> None:
    with pytest.raises(SafetyError, match=message):
        limit_joint_trajectory(current, targets, np.asarray(times, dtype=float), PANDA)
    with pytest.raises(SafetyError, match="non-finite"):
        clamp_to_workspace(np.array([np.nan, 0, 0]), PANDA)


@pytest.mark.parametrize(
    ("velocity", "acceleration", "message"),
    [
        (np.full(7, np.nan), None, "current_velocity contains non-finite"),
        (None, np.full(6, 0.0), r"expected current_acceleration \(7,\)"),
        (np.full(7, 3.0), None, "joint 0 current velocity 3 rad/s is beyond its limit 2.175"),
        (None, np.full(7, 30.0), "joint 0 current acceleration 30 rad/s.2 is beyond"),
    ],
)
def test_bad_start_states_are_refused(velocity, acceleration, message) -> None:
    with pytest.raises(SafetyError, match=message):
        limit_joint_trajectory(HOME, HOME[None], np.array([1.0]), PANDA, velocity, acceleration)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(SafetyError, match="one entry per joint"):
        SafetyLimits(np.zeros(2), np.ones(3), np.ones(2), max_acceleration=[1, 1], max_jerk=[1, 1])
    with pytest.raises(SafetyError, match="position_margin"):
        SafetyLimits(
            np.zeros(2), np.full(2, 0.05), np.ones(2), max_acceleration=[1, 1], max_jerk=[1, 1]
        )
    with pytest.raises(SafetyError, match="workspace"):
        SafetyLimits(
            np.zeros(1), np.ones(1), np.ones(1), np.ones(3), np.zeros(3), 0.05, 1.0, [1], [1]
        )
    with pytest.raises(SafetyError, match="max_acceleration must be given for a robot with 2"):
        SafetyLimits(np.zeros(2), np.ones(2), np.ones(2))
    with pytest.raises(SafetyError, match="max_jerk must be positive"):
        SafetyLimits(np.zeros(1), np.ones(1), np.ones(1), max_acceleration=[1], max_jerk=[0])
    with pytest.raises(SafetyError, match="jerk_scale must be in"):
        SafetyLimits(PANDA.lower, PANDA.upper, PANDA.max_velocity, jerk_scale=0.0)
    with pytest.raises(SafetyError, match="max_acceleration has shape"):
        SafetyLimits(PANDA.lower, PANDA.upper, PANDA.max_velocity, max_acceleration=[1.0])
