"""Limits every robot command must respect: joint position, velocity, acceleration and jerk,
and a workspace box.

A command is made safe or refused, never passed through unchecked:
- non-finite or ill-shaped values are refused (SafetyError);
- end-effector targets are clamped into the workspace box;
- joint waypoints are clamped into the position limits shrunk by a margin;
- the trajectory is published with positions, velocities and accelerations, which
  joint_trajectory_controller executes as quintic segments from the arm's current state
  (position, velocity, acceleration: these are physical and do not change when the timing
  does). Waypoint velocities are monotonicity-preserving slope means (as PCHIP chooses them),
  accelerations the slope of those velocities, so the arm moves through the waypoints without
  stopping, and it comes to rest at the last one (JTC rejects a non-zero final velocity);
- each segment whose motion breaks a limit is slowed down, by its own factor and only as much
  as it needs (the path is kept, only the timing changes; never clipped point by point), so a
  chunk keeps its timing wherever it is feasible: typically only the last segment, where the
  arm comes to rest, is slowed;
- where that does not settle (the start state decides, not a segment's timing), the whole
  trajectory is slowed down by the smallest time stretch for which the spline keeps the limits;
- if the arm moves so fast that no stretch works (it must brake first), a braking point is
  inserted where the arm comes to rest before the rest of the trajectory, or, where even that
  breaks a limit (a joint too close to its bound to stop), the command is refused;
- the result is verified once more, analytically and as a robot sees it at 1 kHz (finite
  differences), so a returned trajectory never exceeds a configured limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from action_images_ros.core.joint_spline import JointSpline, Peaks
from action_images_ros.core.robot_assets import PANDA_MAX_ACCELERATION, PANDA_MAX_JERK

CONTROL_PERIOD = 1e-3  # s: the rate at which a Panda checks its commanded signal
MAX_DURATION = 300.0  # s: a motion that needs longer to keep the limits is refused
STRETCH_TOLERANCE = 5e-3  # relative accuracy of the smallest time stretch
KNOT_GAP = 1e-6  # s: closest knots kept apart in a continuation
SEGMENT_ITERATIONS = 40  # rounds of slowing down the segments that break a limit
SEGMENT_OVERSHOOT = 1e-4  # each round slows a segment by its excess ratio and this much more


class SafetyError(ValueError):
    """A command that cannot be made safe (non-finite values, bad shapes, bad limits, a state
    from which no motion within the limits exists)."""


@dataclass(frozen=True)
class SafetyLimits:
    """Joint and workspace limits (arrays in joint order; workspace in the base frame, metres).

    `position_margin` (rad) keeps waypoints this far inside the position limits (the spline
    between them stays inside the limits themselves). Velocity, acceleration and jerk limits
    are multiplied by their `*_scale` in (0, 1]. `max_acceleration` / `max_jerk` None means
    the Franka Panda's values (7 joints only; any other arm must give its own).
    """

    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    workspace_min: np.ndarray = field(default_factory=lambda: np.full(3, -np.inf))
    workspace_max: np.ndarray = field(default_factory=lambda: np.full(3, np.inf))
    position_margin: float = 0.05
    velocity_scale: float = 1.0
    max_acceleration: np.ndarray | None = None
    max_jerk: np.ndarray | None = None
    acceleration_scale: float = 1.0
    jerk_scale: float = 1.0

    def __post_init__(self) -> None:
        joints = np.shape(self.lower)
        for name, panda in (
            ("max_acceleration", PANDA_MAX_ACCELERATION),
            ("max_jerk", PANDA_MAX_JERK),
        ):
            if getattr(self, name) is None:
                panda = np.array(panda)
                if joints != panda.shape:
                    raise SafetyError(
                        f"{name} must be given for a robot with {joints[0] if joints else 0} "
                        "joints (the default is the 7-joint Franka Panda's)"
                    )
                object.__setattr__(self, name, panda)
        arrays = ("lower", "upper", "max_velocity", "max_acceleration", "max_jerk")
        for name in (*arrays, "workspace_min", "workspace_max"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        joints = self.lower.shape
        for name in arrays:
            value = getattr(self, name)
            if value.shape != joints or len(joints) != 1:
                raise SafetyError(
                    f"lower, upper, max_velocity, max_acceleration and max_jerk must have one "
                    f"entry per joint: {name} has shape {value.shape}, lower {joints}"
                )
            if not np.all(np.isfinite(value)):
                raise SafetyError(f"{name} contains non-finite values")
        if not np.isfinite(self.position_margin) or self.position_margin < 0:
            raise SafetyError(f"position_margin must be >= 0, got {self.position_margin}")
        if np.any(self.upper - self.lower <= 2 * self.position_margin):
            raise SafetyError("every joint needs upper - lower > 2 * position_margin")
        for name in ("max_velocity", "max_acceleration", "max_jerk"):
            if not np.all(getattr(self, name) > 0):
                raise SafetyError(f"{name} must be positive for every joint")
        for name in ("velocity_scale", "acceleration_scale", "jerk_scale"):
            if not 0 < getattr(self, name) <= 1:
                raise SafetyError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.workspace_min.shape != (3,) or self.workspace_max.shape != (3,):
            raise SafetyError("the workspace box needs 3 bounds with max > min")
        if np.any(self.workspace_max <= self.workspace_min):
            raise SafetyError("the workspace box needs 3 bounds with max > min")

    @property
    def velocity_limit(self) -> np.ndarray:
        """Per-joint velocity limit in force (rad/s)."""
        return self.max_velocity * self.velocity_scale

    @property
    def acceleration_limit(self) -> np.ndarray:
        """Per-joint acceleration limit in force (rad/s^2)."""
        return self.max_acceleration * self.acceleration_scale

    @property
    def jerk_limit(self) -> np.ndarray:
        """Per-joint jerk limit in force (rad/s^3)."""
        return self.max_jerk * self.jerk_scale


@dataclass(frozen=True)
class SafeTrajectory:
    """A joint trajectory within the limits, to be published with positions, velocities and
    accelerations (JTC then executes :meth:`spline`), and what was changed to get there.

    With `braking` the first point is an inserted braking point (the arm at rest) and the
    given waypoints follow it, so there is one point more than was given.
    """

    positions: np.ndarray  # (N, J)
    times: np.ndarray  # (N,) seconds from the start (now), strictly increasing
    velocities: np.ndarray  # (N, J), zero at the last point
    accelerations: np.ndarray  # (N, J), zero at the last point
    clamped_joints: tuple[int, ...]  # joints whose waypoint positions were clamped
    time_scale: float  # >= 1: the largest factor by which a given segment was slowed down
    braking: bool  # a braking point was inserted before the given waypoints
    start_position: np.ndarray  # (J,) the state the spline starts from
    start_velocity: np.ndarray
    start_acceleration: np.ndarray
    peaks: Peaks  # verified bounds of the executed motion

    def spline(self) -> JointSpline:
        """The motion JTC executes for this trajectory from its start state."""
        return JointSpline(
            self.start_position,
            self.times,
            self.positions,
            self.velocities,
            self.accelerations,
            self.start_velocity,
            self.start_acceleration,
        )


def clamp_to_workspace(positions: np.ndarray, limits: SafetyLimits) -> tuple[np.ndarray, bool]:
    """End-effector positions (..., 3) clamped into the workspace box; True if any moved."""
    positions = np.asarray(positions, dtype=np.float64)
    if not np.all(np.isfinite(positions)):
        raise SafetyError("end-effector targets contain non-finite values")
    clamped = np.clip(positions, limits.workspace_min, limits.workspace_max)
    return clamped, bool(np.any(clamped != positions))


def limit_joint_trajectory(
    current: np.ndarray,
    positions: np.ndarray,
    times: np.ndarray,
    limits: SafetyLimits,
    current_velocity: np.ndarray | None = None,
    current_acceleration: np.ndarray | None = None,
) -> SafeTrajectory:
    """Make the joint trajectory through `positions` (N, J) at `times` (N,) (s from now,
    > 0, increasing), starting from the arm's state (`current` position, velocity and
    acceleration, None = at rest), respect `limits` (see the module doc).

    Raises:
        SafetyError: non-finite or ill-shaped input, a start state already beyond the velocity
            or acceleration limit, or no motion within the limits exists.
    """
    joints = limits.lower.shape[0]
    q0 = _array("current", current, (joints,))
    v0 = np.zeros(joints) if current_velocity is None else current_velocity
    a0 = np.zeros(joints) if current_acceleration is None else current_acceleration
    v0 = _array("current_velocity", v0, (joints,))
    a0 = _array("current_acceleration", a0, (joints,))
    positions = np.asarray(positions, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != joints:
        raise SafetyError(
            f"expected current ({joints},) and positions (N, {joints}), "
            f"got {q0.shape} and {positions.shape}"
        )
    if len(positions) == 0 or times.shape != (len(positions),):
        raise SafetyError(f"need N >= 1 points and N times, got {positions.shape}, {times.shape}")
    for name, array in (("positions", positions), ("times", times)):
        if not np.all(np.isfinite(array)):
            raise SafetyError(f"{name} contains non-finite values")
    if times[0] <= 0 or np.any(np.diff(times) <= 0):
        raise SafetyError("times must be positive and strictly increasing")
    for name, value, limit, unit in (
        ("velocity", v0, limits.velocity_limit, "rad/s"),
        ("acceleration", a0, limits.acceleration_limit, "rad/s^2"),
    ):
        over = np.flatnonzero(np.abs(value) > limit * (1 + 1e-9))
        if over.size:
            j = over[0]
            raise SafetyError(
                f"joint {j} current {name} {value[j]:.4g} {unit} is beyond its limit "
                f"{limit[j]:.4g} {unit}"
            )

    lower, upper = limits.lower + limits.position_margin, limits.upper - limits.position_margin
    safe = np.clip(positions, lower, upper)
    clamped = tuple(int(j) for j in np.flatnonzero(np.any(safe != positions, axis=0)))
    planner = _Planner(q0, v0, a0, safe, times, limits)
    result = planner.segment_stretched()
    if result is None:  # the start state needs the whole trajectory slowed, or a braking point
        result = planner.uniformly_stretched()
    return dataclasses.replace(result, clamped_joints=clamped)


def continuation_points(
    safe: SafeTrajectory,
    now: float,
    start_at: float,
    commanded: tuple[float, JointSpline] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The points of a trajectory message stamped `now` (times from `now`, positions,
    velocities, accelerations) that makes a controller execute `safe`, planned from the state
    at `start_at`, exactly.

    `commanded` (its start time, spline): the motion the controller executes now, if `safe`
    starts on it at `start_at`. Its knots between `now` and `start_at` come first: a controller
    that splines from its state on receipt (JTC) through them reproduces that motion (a quintic
    Hermite segment between two states of one quintic is that quintic), wherever it is when the
    message arrives before `start_at`. Then `safe`'s start state at `start_at`, then its points.
    (A knot within KNOT_GAP of `now` or `start_at` is left out; the segments it would make
    are numerically exact down to far shorter lengths.)
    """
    joints = len(safe.start_position)
    times, q, dq, ddq = np.zeros(0), *(np.zeros((0, joints)) for _ in range(3))
    if commanded is not None:
        start, spline = commanded
        times, q, dq, ddq = spline.knot_states(now + KNOT_GAP - start, start_at - KNOT_GAP - start)
        times = times + start - now
    lead = start_at - now
    return (
        np.concatenate([times, [lead], lead + safe.times]),
        np.vstack([q, safe.start_position, safe.positions]),
        np.vstack([dq, safe.start_velocity, safe.velocities]),
        np.vstack([ddq, safe.start_acceleration, safe.accelerations]),
    )


def limit_violations(
    spline: JointSpline, limits: SafetyLimits, tolerance: float = 0.0
) -> list[str]:
    """Every limit the motion of `spline` breaks, analytically and as sampled at 1 kHz, as
    readable reasons (empty if none). A start outside the position limits may only move back
    toward them."""
    reasons = []
    peaks = spline.peaks()
    sampled = spline.sampled_derivatives(CONTROL_PERIOD)
    sampled_peaks = sampled.peaks()
    start = spline.start[0]
    low, high = np.minimum(limits.lower, start), np.maximum(limits.upper, start)
    checks = (
        ("velocity", limits.velocity_limit, "rad/s"),
        ("acceleration", limits.acceleration_limit, "rad/s^2"),
        ("jerk", limits.jerk_limit, "rad/s^3"),
    )
    for i, (name, limit, unit) in enumerate(checks):
        for view, values in (("peak", getattr(peaks, name)), ("1 kHz", sampled_peaks[i])):
            for j in np.flatnonzero(values > limit * (1 + tolerance)):
                reasons.append(
                    f"joint {j} {view} {name} {values[j]:.4g} {unit} exceeds {limit[j]:.4g}"
                )
    lowest = np.minimum(peaks.lowest, sampled.positions.min(axis=0))
    highest = np.maximum(peaks.highest, sampled.positions.max(axis=0))
    for j in np.flatnonzero((lowest < low) | (highest > high)):
        reasons.append(
            f"joint {j} moves over [{lowest[j]:.4f}, {highest[j]:.4f}] outside its limits "
            f"[{low[j]:.4f}, {high[j]:.4f}]"
        )
    return reasons


def verify_trajectory(trajectory: SafeTrajectory, limits: SafetyLimits) -> None:
    """Raise SafetyError unless the motion JTC executes for `trajectory` is within `limits`
    and it ends at rest."""
    if np.any(trajectory.velocities[-1] != 0) or np.any(trajectory.accelerations[-1] != 0):
        raise SafetyError("safety: the trajectory does not end at rest")
    reasons = limit_violations(trajectory.spline(), limits, tolerance=1e-9)
    if reasons:
        raise SafetyError("safety: verification failed: " + "; ".join(reasons))


def _array(name: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise SafetyError(f"expected {name} {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SafetyError(f"{name} contains non-finite values")
    return array


def knot_derivatives(
    path: np.ndarray, knot_times: np.ndarray, start_velocity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Velocities and accelerations (N, J) at the waypoints path[1:] (path (N+1, J) starts at
    the current state, moving at `start_velocity`), at rest at the last point.

    Velocities: PCHIP's weighted harmonic mean of the adjacent slopes (zero where they differ
    in sign), so the cubic through them would not overshoot. Accelerations: that cubic's
    acceleration at the knot, from the segment before and after, the smaller where both agree
    in sign, else zero (minmod), so the quintic stays close to the monotone cubic.
    """
    h = np.diff(knot_times)[:, None]
    slope = np.diff(path, axis=0) / h
    before, after, h0, h1 = slope[:-1], slope[1:], h[:-1], h[1:]
    w1, w2 = 2 * h1 + h0, h1 + 2 * h0
    same = np.sign(before) * np.sign(after) > 0
    # (w1 + w2) / (w1 / before + w2 / after), written without dividing by tiny slopes
    denominator = np.where(same, w1 * after + w2 * before, 1.0)
    inner = np.where(same, (w1 + w2) * before * after / denominator, 0.0)
    velocity = np.vstack([start_velocity, inner, np.zeros_like(start_velocity)])
    v0, v1 = velocity[:-1], velocity[1:]
    # the cubic Hermite segments' accelerations at their start and end
    at_start = (6 * slope - 4 * v0 - 2 * v1) / h
    at_end = (-6 * slope + 2 * v0 + 4 * v1) / h
    left, right = at_end[:-1], at_start[1:]
    agree = np.sign(left) * np.sign(right) > 0
    inner_acceleration = np.where(agree, np.sign(left) * np.minimum(abs(left), abs(right)), 0.0)
    acceleration = np.vstack([inner_acceleration, np.zeros_like(start_velocity)])
    return velocity[1:], acceleration


class _Planner:
    """Builds and times the spline for one call of :func:`limit_joint_trajectory`."""

    def __init__(
        self,
        q0: np.ndarray,
        v0: np.ndarray,
        a0: np.ndarray,
        waypoints: np.ndarray,
        times: np.ndarray,
        limits: SafetyLimits,
    ) -> None:
        self.q0, self.v0, self.a0 = q0, v0, a0
        self.waypoints, self.times, self.limits = waypoints, times, limits
        self.low = np.minimum(limits.lower, q0)
        self.high = np.maximum(limits.upper, q0)

    def points(
        self, times: np.ndarray, brake: tuple[float, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Positions, times, velocities, accelerations of the points when the waypoints are
        due at `times` (after the braking point, if any)."""
        if brake is None:
            path = np.vstack([self.q0, self.waypoints])
            v, a = knot_derivatives(path, np.concatenate([[0.0], times]), self.v0)
            return self.waypoints, times, v, a
        tb, qb = brake
        path = np.vstack([qb, self.waypoints])
        rest = np.zeros_like(qb)
        v, a = knot_derivatives(path, np.concatenate([[tb], times]), rest)
        return path, np.concatenate([[tb], times]), np.vstack([rest, v]), np.vstack([rest, a])

    def uniform_times(self, k: float, brake: tuple[float, np.ndarray] | None) -> np.ndarray:
        """The waypoint times for the whole timing stretched by `k` (after the braking point)."""
        return (0.0 if brake is None else brake[0]) + k * self.times

    def spline(self, times: np.ndarray, brake: tuple[float, np.ndarray] | None) -> JointSpline:
        path, knot_times, v, a = self.points(times, brake)
        return JointSpline(self.q0, knot_times, path, v, a, self.v0, self.a0)

    def trajectory(
        self, times: np.ndarray, brake: tuple[float, np.ndarray] | None, time_scale: float
    ) -> SafeTrajectory:
        """The verified trajectory through the waypoints due at `times` (SafetyError if it
        breaks a limit)."""
        path, knot_times, velocities, accelerations = self.points(times, brake)
        result = SafeTrajectory(
            positions=path,
            times=knot_times,
            velocities=velocities,
            accelerations=accelerations,
            clamped_joints=(),
            time_scale=time_scale,
            braking=brake is not None,
            start_position=self.q0,
            start_velocity=self.v0,
            start_acceleration=self.a0,
            peaks=self.spline(times, brake).peaks(),
        )
        verify_trajectory(result, self.limits)
        return result

    def segment_stretched(self) -> SafeTrajectory | None:
        """The given timing where it keeps the limits, each segment that breaks one slowed
        down by its own factor (so a fast stretch of the chunk does not slow the rest of it);
        None where that does not converge (the start state needs a braking point or a uniform
        stretch)."""
        given = np.diff(np.concatenate([[0.0], self.times]))
        durations = given.copy()
        grown = np.zeros(len(given), dtype=bool)
        limits = self.limits
        for _ in range(SEGMENT_ITERATIONS):
            times = np.cumsum(durations)
            if times[-1] > MAX_DURATION:
                return None
            peaks = self.spline(times, None).segment_peaks()
            ratio = np.maximum.reduce(
                [
                    np.max(peaks.velocity / limits.velocity_limit, axis=1),
                    np.max(peaks.acceleration / limits.acceleration_limit, axis=1) ** 0.5,
                    np.max(peaks.jerk / limits.jerk_limit, axis=1) ** (1 / 3),
                ]
            )
            outside = np.any(peaks.lowest < self.low, axis=1) | np.any(
                peaks.highest > self.high, axis=1
            )
            if not outside.any() and ratio.max() <= 1.0:
                try:
                    return self.trajectory(times, None, float(np.max(durations / given)))
                except SafetyError:  # (the 1 kHz view disagrees): the uniform stretch decides
                    return None
            # The ratio is exact for a segment between rests (velocity ~ 1/k, acceleration
            # 1/k^2, jerk 1/k^3); one tied to a fixed start state (or its neighbours) falls
            # slower: a segment slowed before and still too fast takes the cube.
            grow = np.where(ratio > 1.0, ratio ** np.where(grown, 3, 1), 1.0)
            grow = np.where(ratio > 1.0, grow * (1 + SEGMENT_OVERSHOOT), 1.0)
            grow = np.where(outside, np.maximum(grow, 1.25), grow)
            grown |= grow > 1.0
            durations = durations * grow
        return None

    def uniformly_stretched(self) -> SafeTrajectory:
        """The whole timing stretched by the smallest factor that keeps the limits, after a
        braking point where no factor does."""
        k = self.smallest_stretch(None)
        brake = None
        if k is None:
            brake = self.braking_point()
            k = self.smallest_stretch(brake)
        if k is None:
            raise SafetyError(
                f"no timing of this trajectory within {MAX_DURATION:.0f} s keeps the limits"
            )
        return self.trajectory(self.uniform_times(k, brake), brake, k)

    def within(self, spline: JointSpline) -> tuple[bool, float]:
        """Whether `spline` keeps every limit, and the factor by which time would have to
        stretch if it started at rest (velocity ~ 1/k, acceleration 1/k^2, jerk 1/k^3)."""
        peaks = spline.peaks()
        limits = self.limits
        ratios = (
            np.max(peaks.velocity / limits.velocity_limit),
            np.max(peaks.acceleration / limits.acceleration_limit) ** 0.5,
            np.max(peaks.jerk / limits.jerk_limit) ** (1 / 3),
        )
        inside = bool(np.all(peaks.lowest >= self.low) and np.all(peaks.highest <= self.high))
        ratio = float(max(ratios))
        return inside and ratio <= 1.0, ratio

    def smallest_stretch(self, brake: tuple[float, np.ndarray] | None) -> float | None:
        """The smallest k >= 1 (within STRETCH_TOLERANCE) for which the spline keeps every
        limit, or None if there is none up to MAX_DURATION."""
        start = 0.0 if brake is None else brake[0]
        k_max = max(1.0, (MAX_DURATION - start) / self.times[-1])
        return _smallest(
            lambda k: self.within(self.spline(self.uniform_times(k, brake), brake)), 1.0, k_max
        )

    def braking_point(self) -> tuple[float, np.ndarray]:
        """The earliest (time, position) at which the arm can be at rest within the limits,
        braking from its state on the quintic whose fifth-order term vanishes."""

        def brake_at(tb: float) -> JointSpline:
            qb = self.q0 + self.v0 * tb / 2 + self.a0 * tb**2 / 12
            rest = np.zeros((1, len(qb)))
            return JointSpline(self.q0, [tb], qb[None], rest, rest, self.v0, self.a0)

        def dynamics_within(tb: float) -> tuple[bool, float]:
            _, ratio = self.within(brake_at(tb))
            return ratio <= 1.0, ratio

        limits = self.limits
        guess = max(
            np.max(np.abs(self.v0) / limits.acceleration_limit),
            np.max(np.abs(self.a0) / limits.jerk_limit),
            CONTROL_PERIOD,
        )
        tb = _smallest(dynamics_within, guess, MAX_DURATION / guess)
        if tb is None:
            raise SafetyError("the arm cannot be brought to rest within the limits")
        spline = brake_at(tb)
        peaks = spline.peaks()
        outside = np.flatnonzero((peaks.lowest < self.low) | (peaks.highest > self.high))
        if outside.size:
            j = outside[0]
            raise SafetyError(
                f"joint {j} moving at {self.v0[j]:.4g} rad/s cannot stop within its position "
                f"limits [{self.limits.lower[j]:.4f}, {self.limits.upper[j]:.4f}]"
            )
        return tb, spline.end_position


def _smallest(
    feasible: Callable[[float], tuple[bool, float]], start: float, most: float
) -> float | None:
    """The smallest x in [start, start * most] (relative STRETCH_TOLERANCE) with feasible(x),
    where feasible also returns the ratio by which x would have to grow if the limits scaled
    as from rest (then exact): grow by that ratio, then narrow the bracket by interpolating
    log(ratio) to 0 (regula falsi, Illinois variant), bisecting where that does not help."""
    x, below, below_ratio = start, None, 0.0
    for _ in range(60):
        ok, ratio = feasible(x)
        if ok:
            break
        if x >= start * most:
            return None
        below, below_ratio = x, ratio
        # the ratio when a velocity, acceleration or jerk limit decides; else a position limit
        # does (or a start state that stretching does not help): grow by a quarter (at least
        # 10 % either way, so that the growth does not creep toward a ratio near 1)
        x = min(x * (max(ratio * (1 + 1e-9), 1.1) if ratio > 1 else 1.25), start * most)
    else:
        return None
    if below is None or not feasible(x / (1 + STRETCH_TOLERANCE))[0]:
        return x  # (exact for a start at rest)
    above_ratio, weight = ratio, [1.0, 1.0]
    for _ in range(60):
        if x / below <= 1 + STRETCH_TOLERANCE:
            break
        low, high = np.log(below), np.log(x)
        f_low = np.log(below_ratio) * weight[0] if below_ratio > 1 else 0.0
        f_high = np.log(max(above_ratio, 1e-300)) * weight[1]
        if f_low > 0 and f_high < 0:  # interpolate, kept off the bracket's ends
            guess = low + (high - low) * f_low / (f_low - f_high)
            guess = np.clip(guess, low + 0.02 * (high - low), high - 0.02 * (high - low))
        else:  # the position limits decide here: bisect
            guess = 0.5 * (low + high)
        middle = float(np.exp(guess))
        ok, ratio = feasible(middle)
        if ok:
            x, above_ratio = middle, ratio
            weight = [weight[0] * 0.5, 1.0]  # Illinois: do not let one end stall
        else:
            below, below_ratio = middle, ratio
            weight = [1.0, weight[1] * 0.5]
    return x
