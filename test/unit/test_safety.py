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


def _cubic_speeds(path: np.ndarray, times: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """Max |dq/dt| of the cubic Hermite spline through the points, sampled densely."""
    speeds = []
    start_velocity = np.zeros(path.shape[1])
    v = np.vstack([start_velocity, velocities])
    for i in range(len(times) - 1):
        h = times[i + 1] - times[i]
        s = np.linspace(0, 1, 50)[:, None]
        dp = (6 * s**2 - 6 * s) * path[i] + (3 * s**2 - 4 * s + 1) * h * v[i]
        dp += (-6 * s**2 + 6 * s) * path[i + 1] + (3 * s**2 - 2 * s) * h * v[i + 1]
        speeds.append(np.abs(dp / h))
    return np.max(np.vstack(speeds), axis=0)


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float64, (5, 7), elements=st.floats(-6, 6)),
    arrays(np.float64, (5,), elements=st.floats(0.01, 1.0)),
)
def test_no_output_ever_exceeds_the_limits(targets: np.ndarray, gaps: np.ndarray) -> None:
    times = np.cumsum(gaps)
    result = limit_joint_trajectory(HOME, targets, times, PANDA)
    assert np.all(result.positions >= PANDA.lower) and np.all(result.positions <= PANDA.upper)
    path = np.vstack([HOME, result.positions])
    segment_speeds = (
        np.abs(np.diff(path, axis=0)) / np.diff(np.concatenate([[0], result.times]))[:, None]
    )
    assert np.all(segment_speeds <= PANDA.velocity_limit)
    assert np.all(np.abs(result.velocities) <= PANDA.velocity_limit)
    assert np.all(np.diff(result.times) > 0) and result.time_scale >= 1
    np.testing.assert_array_equal(result.velocities[-1], 0)


def test_a_safe_trajectory_passes_unchanged() -> None:
    targets = HOME + np.linspace(0.01, 0.1, 4)[:, None]
    times = np.array([1.0, 2.0, 3.0, 4.0])
    result = limit_joint_trajectory(HOME, targets, times, PANDA)
    np.testing.assert_array_equal(result.positions, targets)
    np.testing.assert_array_equal(result.times, times)
    assert result.clamped_joints == () and result.time_scale == 1.0


def test_a_too_fast_trajectory_is_slowed_down_keeping_its_path() -> None:
    targets = HOME + np.array([[1.0, 0, 0, 0, 0, 0, 0]])
    result = limit_joint_trajectory(HOME, targets, np.array([0.1]), PANDA)
    np.testing.assert_array_equal(result.positions, targets)
    # Rest to rest over one cubic segment peaks at 1.5x the mean speed.
    assert result.times[0] == pytest.approx(1.5 * 1.0 / 2.175, rel=1e-5)


def test_positions_outside_the_limits_are_clamped_with_margin() -> None:
    targets = HOME.copy()[None]
    targets[0, 3] = 0.5  # joint 4 must stay below -0.0698
    result = limit_joint_trajectory(HOME, targets, np.array([5.0]), PANDA)
    assert result.clamped_joints == (3,)
    assert result.positions[0, 3] == pytest.approx(-0.0698 - PANDA.position_margin)


def test_velocity_scale_lowers_the_limit() -> None:
    slow = SafetyLimits(PANDA.lower, PANDA.upper, PANDA.max_velocity, velocity_scale=0.1)
    targets = HOME + np.array([[0.5, 0, 0, 0, 0, 0, 0]])
    result = limit_joint_trajectory(HOME, targets, np.array([0.5]), slow)
    assert result.times[0] == pytest.approx(1.5 * 0.5 / 0.2175, rel=1e-5)


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
    ],
)
def test_unsafe_commands_are_refused(current, targets, times, message) -> None:
    with pytest.raises(SafetyError, match=message):
        limit_joint_trajectory(current, targets, np.asarray(times, dtype=float), PANDA)
    with pytest.raises(SafetyError, match="non-finite"):
        clamp_to_workspace(np.array([np.nan, 0, 0]), PANDA)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(SafetyError, match="one entry per joint"):
        SafetyLimits(np.zeros(2), np.ones(3), np.ones(2))
    with pytest.raises(SafetyError, match="position_margin"):
        SafetyLimits(np.zeros(2), np.full(2, 0.05), np.ones(2))
    with pytest.raises(SafetyError, match="workspace"):
        SafetyLimits(np.zeros(1), np.ones(1), np.ones(1), np.ones(3), np.zeros(3))
