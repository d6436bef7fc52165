"""JointSpline: the motion joint_trajectory_controller executes, and its two views."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from action_images_ros.core.joint_spline import JointSpline


def test_kind_follows_what_the_points_carry() -> None:
    q0, t, p = np.zeros(2), [1.0], [[1.0, 2.0]]
    assert JointSpline(q0, t, p).kind == "linear"
    assert JointSpline(q0, t, p, [[0.0, 0.0]]).kind == "cubic"
    assert JointSpline(q0, t, p, [[0.0, 0.0]], [[0.0, 0.0]]).kind == "quintic"


def test_linear_segments_and_hold_after_the_end() -> None:
    spline = JointSpline(np.array([0.0]), [1.0, 3.0], [[1.0], [0.0]])
    q, dq, ddq = spline.evaluate(np.array([0.5, 1.0, 2.0, 3.0, 10.0]))
    np.testing.assert_allclose(q[:, 0], [0.5, 1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(dq[:, 0], [1.0, -0.5, -0.5, 0.0, 0.0])
    np.testing.assert_array_equal(ddq, 0.0)
    q, dq, _ = spline.evaluate(2.0)  # scalar in, (J,) out
    assert q.shape == (1,) and q[0] == pytest.approx(0.5)


def test_cubic_hermite_matches_the_boundary_values() -> None:
    spline = JointSpline(
        np.array([0.1]), [1.0, 2.0], [[0.5], [1.0]], [[0.5], [0.0]], start_velocity=[0.2]
    )
    q, dq, _ = spline.evaluate(np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(q[:, 0], [0.1, 0.5, 1.0])
    np.testing.assert_allclose(dq[:, 0], [0.2, 0.5, 0.0], atol=1e-12)
    assert spline.evaluate(1.5)[0][0] == pytest.approx(0.75 + 0.5 / 8)  # Hermite midpoint


def test_quintic_matches_positions_velocities_accelerations_at_the_knots() -> None:
    rng = np.random.default_rng(3)
    times = np.array([0.3, 0.5, 1.1])
    p, v, a = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    q0, v0, a0 = rng.normal(size=(3, 4))
    spline = JointSpline(q0, times, p, v, a, v0, a0)
    q, dq, ddq = spline.evaluate(np.concatenate([[0.0], times - 1e-12]))
    np.testing.assert_allclose(q, np.vstack([q0, p]), atol=1e-9)
    np.testing.assert_allclose(dq, np.vstack([v0, v]), atol=1e-8)
    np.testing.assert_allclose(ddq, np.vstack([a0, a]), atol=1e-6)


def test_minimum_jerk_peaks_are_the_textbook_values() -> None:
    # Rest to rest by d in T: peak v 1.875 d/T, a 10/sqrt(3) d/T^2, jerk 60 d/T^3.
    d, duration = 0.8, 2.0
    rest = [[0.0]]
    peaks = JointSpline(np.zeros(1), [duration], [[d]], rest, rest).peaks()
    assert peaks.velocity[0] == pytest.approx(1.875 * d / duration, rel=3e-3)
    assert peaks.acceleration[0] == pytest.approx(10 / np.sqrt(3) * d / duration**2, rel=5e-3)
    assert peaks.jerk[0] == pytest.approx(60 * d / duration**3, rel=2e-3)
    assert peaks.velocity[0] >= 1.875 * d / duration  # bounds, never below the truth
    assert peaks.jerk[0] >= 60 * d / duration**3
    assert peaks.lowest[0] <= 0.0 and peaks.highest[0] >= d


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (4, 2), elements=st.floats(-2, 2)),
    arrays(np.float64, (4, 2), elements=st.floats(-3, 3)),
    arrays(np.float64, (4, 2), elements=st.floats(-20, 20)),
    arrays(np.float64, (4,), elements=st.floats(0.02, 0.5)),
)
def test_peaks_bound_a_dense_sampling(p, v, a, gaps) -> None:
    v[-1] = a[-1] = 0.0  # ends at rest, so the hold continues it without a jump
    spline = JointSpline(np.zeros(2), np.cumsum(gaps), p, v, a, v[0], a[0])
    peaks = spline.peaks()
    t = np.linspace(0.0, spline.duration, 4001)
    q, dq, ddq = spline.evaluate(t)
    # Exact up to two extrema closer than a sample spacing (module doc); the position range
    # is widened by the bound, so it always holds.
    slack = 1 + 1e-3
    assert np.all(np.abs(dq).max(axis=0) <= peaks.velocity * slack + 1e-9)
    assert np.all(np.abs(ddq).max(axis=0) <= peaks.acceleration * slack + 1e-9)
    assert np.all(q.min(axis=0) >= peaks.lowest - 1e-12)
    assert np.all(q.max(axis=0) <= peaks.highest + 1e-12)
    fd = spline.sampled_derivatives(1e-3).peaks()  # a C2 spline: differences stay below
    assert np.all(fd[0] <= peaks.velocity + 1e-9)
    assert np.all(fd[1] <= peaks.acceleration + 1e-6)
    assert np.all(fd[2] <= peaks.jerk * (1 + 1e-9) + 1e-6)
    # the dense maxima are within the stated bound of the peaks
    assert np.all(np.abs(dq).max(axis=0) >= peaks.velocity * 0.99 - 1e-3)


def test_finite_differences_reveal_jumps_at_the_knots() -> None:
    # J1 by 2 rad in 0.1 s, positions only: 20 rad/s, and from rest a jump to it.
    linear = JointSpline(np.zeros(1), [0.1], [[2.0]])
    velocity, acceleration, jerk = linear.sampled_derivatives(1e-3).peaks()
    assert velocity[0] == pytest.approx(20.0)
    assert acceleration[0] == pytest.approx(20.0 / 1e-3)  # the step at t = 0 (and the stop)
    assert linear.peaks().acceleration[0] == 0.0  # each segment alone looks smooth
    # A moving start continued by a spline that starts at that velocity: no jump at t = 0.
    smooth = JointSpline(np.zeros(1), [1.0], [[1.0]], [[0.0]], [[0.0]], start_velocity=[1.0])
    assert smooth.sampled_derivatives(1e-3).peaks()[1][0] < smooth.peaks().acceleration[0] + 1e-6
    # The same start with a linear first segment jumps from 1 rad/s to 1 rad/s: no step, but
    # an acceleration step at the end (the hold).
    steps = JointSpline(np.zeros(1), [1.0], [[1.0]], start_velocity=[1.0])
    assert steps.sampled_derivatives(1e-3).peaks()[1][0] == pytest.approx(1e3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"positions": [[np.nan]]}, "positions contains non-finite"),
        ({"times": [0.0]}, "times must be > 0"),
        ({"times": [1.0, 1.0], "positions": [[0.0], [1.0]]}, "strictly increasing"),
        ({"positions": [[0.0, 1.0]]}, "expected start_position"),
        ({"velocities": [[0.0], [1.0]]}, "velocities has shape"),
        ({"accelerations": [[0.0]]}, "accelerations need velocities"),
        ({"start_velocity": [np.inf]}, "start_velocity contains non-finite"),
    ],
)
def test_bad_input_is_refused(kwargs, message) -> None:
    args = {"start_position": np.zeros(1), "times": [1.0], "positions": [[1.0]]} | kwargs
    with pytest.raises(ValueError, match=message):
        JointSpline(**args)
