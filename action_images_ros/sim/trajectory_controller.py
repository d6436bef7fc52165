"""A message-free joint trajectory controller with ros2_controllers' joint_trajectory_controller
semantics (Jazzy), for the simulator and for tests.

- A trajectory names every controller joint, in any order; it is validated as a whole and
  rejected with a reason (the active motion, or the hold, is left untouched).
- An accepted trajectory replaces the active one and splines from the controller's current
  desired state (position, velocity and acceleration of the active motion at that instant; at
  rest when holding) to its first point, so consecutive trajectories join without a jump.
- Interpolation (:class:`~action_images_ros.core.joint_spline.JointSpline`): positions only ->
  linear, + velocities -> cubic Hermite, + accelerations -> quintic. After the last point the
  controller holds it.
- ``start_time`` None or 0 means "start now"; a trajectory whose end is already past is
  rejected; points already due are skipped; a future start stretches the first segment (JTC
  splines from the state at receipt to the first point at start_time + time_from_start).
- With velocity, acceleration or jerk limits, a trajectory whose executed spline exceeds one
  of them, judged as a Franka Panda judges its commanded signal (finite differences at 1 kHz,
  within a small tolerance), is rejected with the joint, the quantity, the peak and the limit.
- Optional path / goal tolerances abort the motion and hold the current position.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from action_images_ros.core.joint_spline import JointSpline

CONTROL_PERIOD = 1e-3  # s: the rate at which limits are judged (a Panda's 1 kHz)
_FIRST_SEGMENT_MIN = 1e-9  # s: a first point due now is reached in this time (a jump)


@dataclass(frozen=True)
class TrajectoryPoint:
    """One waypoint: positions (rad or m), optional velocities/accelerations, seconds from start.

    Empty or None velocities/accelerations mean "not given".
    """

    positions: Sequence[float]
    time_from_start: float
    velocities: Sequence[float] | None = None
    accelerations: Sequence[float] | None = None


@dataclass(frozen=True)
class TrajectoryGoal:
    """A joint trajectory for the controller (trajectory_msgs/JointTrajectory without the
    message): joint names and points; ``start_time`` (controller clock, s) None or 0 = now."""

    joint_names: Sequence[str]
    points: Sequence[TrajectoryPoint]
    start_time: float | None = None


@dataclass(frozen=True)
class Acceptance:
    """Outcome of :meth:`JointTrajectoryController.set_trajectory`: accepted, else why not."""

    accepted: bool
    reason: str = ""


class Status(enum.Enum):
    """Controller state: holding (idle), executing, succeeded (holding the end) or aborted."""

    IDLE = "idle"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    ABORTED = "aborted"


def _opt(values: Sequence[float] | None) -> np.ndarray | None:
    if values is None or len(values) == 0:
        return None
    return np.asarray(values, dtype=np.float64)


class JointTrajectoryController:
    """Tracks joint trajectories for a fixed, ordered set of joints.

    Args:
        joint_names: the controlled joints, in the order of every array this class returns.
        lower, upper: position limits; points outside them are rejected.
        velocity_limits, acceleration_limits, jerk_limits: optional per-joint limits of the
            executed spline (and of points' velocities), judged at 1 kHz.
        limit_tolerance: relative tolerance on those limits.
        path_tolerance: optional max |actual - desired| per joint while executing (abort beyond).
        goal_tolerance: optional max |actual - final| per joint when the trajectory ends;
            checked until ``goal_time_tolerance`` s after the end, then the goal is aborted.
    """

    def __init__(
        self,
        joint_names: Sequence[str],
        lower: Sequence[float],
        upper: Sequence[float],
        velocity_limits: Sequence[float] | None = None,
        path_tolerance: float | None = None,
        goal_tolerance: float | None = None,
        goal_time_tolerance: float = 0.5,
        acceleration_limits: Sequence[float] | None = None,
        jerk_limits: Sequence[float] | None = None,
        limit_tolerance: float = 0.01,
    ) -> None:
        self.joint_names = list(joint_names)
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        self.limits = {
            name: None if values is None else np.asarray(values, dtype=np.float64)
            for name, values in (
                ("velocity", velocity_limits),
                ("acceleration", acceleration_limits),
                ("jerk", jerk_limits),
            )
        }
        for name, values in self.limits.items():
            if values is not None and values.shape != (len(self.joint_names),):
                raise ValueError(f"{name} limits need one value per joint, got {values.shape}")
        self.limit_tolerance = limit_tolerance
        self.path_tolerance = path_tolerance
        self.goal_tolerance = goal_tolerance
        self.goal_time_tolerance = goal_time_tolerance
        self.status = Status.IDLE
        self.last_reason = ""
        self._hold = np.clip(np.zeros(len(self.joint_names)), self.lower, self.upper)
        self._spline: JointSpline | None = None
        self._start = 0.0  # controller time of the spline's t = 0

    @property
    def velocity_limits(self) -> np.ndarray | None:
        return self.limits["velocity"]

    @property
    def active(self) -> bool:
        """True while a trajectory is being executed."""
        return self.status is Status.EXECUTING

    @property
    def end_time(self) -> float | None:
        """Controller-clock time of the active (or last) trajectory's final point."""
        return None if self._spline is None else self._start + self._spline.duration

    def reset(self, positions: Sequence[float]) -> None:
        """Drop any trajectory and hold ``positions``."""
        self._hold = np.asarray(positions, dtype=np.float64).copy()
        self._spline = None
        self.status = Status.IDLE

    def validate(self, traj: TrajectoryGoal, now: float = 0.0) -> str | None:
        """The reason ``traj`` would be rejected at time ``now`` for what it says (names,
        sizes, values, times), or None; the limits of its motion are checked on acceptance."""
        names, n = list(traj.joint_names), len(self.joint_names)
        if not names:
            return "trajectory has no joint names"
        if not traj.points:
            return "trajectory has no points"
        dup = sorted({j for j in names if names.count(j) > 1})
        if dup:
            return f"duplicate joint names: {dup}"
        unknown = [j for j in names if j not in self.joint_names]
        if unknown:
            return f"unknown joint names: {unknown} (controller joints: {self.joint_names})"
        missing = [j for j in self.joint_names if j not in names]
        if missing:
            return f"missing joints: {missing} (every controller joint must be named)"
        order = [names.index(j) for j in self.joint_names]
        prev_t = None
        for k, pt in enumerate(traj.points):
            arrays = {
                "positions": np.asarray(pt.positions, dtype=np.float64),
                "velocities": _opt(pt.velocities),
                "accelerations": _opt(pt.accelerations),
            }
            for field, arr in arrays.items():
                if arr is None:
                    if field == "positions":
                        return f"point {k}: no positions"
                    continue
                if arr.shape != (n,):
                    return f"point {k}: {field} has {arr.size} values for {n} joints"
                if not np.all(np.isfinite(arr)):
                    return f"point {k}: non-finite {field}"
            t = float(pt.time_from_start)
            if not np.isfinite(t) or t < 0:
                return f"point {k}: invalid time_from_start {t}"
            if prev_t is not None and t <= prev_t:
                return f"point {k}: time_from_start {t} not strictly increasing (previous {prev_t})"
            prev_t = t
            pos = arrays["positions"][order]
            bad = np.flatnonzero((pos < self.lower - 1e-9) | (pos > self.upper + 1e-9))
            if bad.size:
                i = bad[0]
                return (
                    f"point {k}: {self.joint_names[i]} position {pos[i]:.4f} outside limits "
                    f"[{self.lower[i]:.4f}, {self.upper[i]:.4f}]"
                )
            vel = arrays["velocities"]
            if vel is not None and self.velocity_limits is not None:
                over = np.flatnonzero(np.abs(vel[order]) > self.velocity_limits + 1e-9)
                if over.size:
                    return f"point {k}: {self.joint_names[over[0]]} velocity exceeds its limit"
        last_vel = _opt(traj.points[-1].velocities)
        if last_vel is not None and np.any(last_vel != 0.0):
            return "last point has non-zero velocity"
        if traj.start_time and traj.start_time + prev_t < now:
            return f"trajectory ends at {traj.start_time + prev_t:.3f} s, already past ({now:.3f})"
        return None

    def set_trajectory(self, traj: TrajectoryGoal, now: float) -> Acceptance:
        """Validate and, if valid and within the limits, replace the active trajectory with
        the spline from the current desired state through its points. A rejected trajectory
        changes nothing."""
        reason = self.validate(traj, now)
        spline = None
        if reason is None:
            spline = self._spline_for(traj, now)
            reason = self._limit_violation(spline)
        if reason is not None:
            self.last_reason = reason
            return Acceptance(False, reason)
        self._spline, self._start = spline, now
        self._hold = spline.end_position.copy()
        self.status = Status.EXECUTING
        self.last_reason = ""
        return Acceptance(True)

    def desired_state(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Desired (positions, velocities, accelerations) at ``now``: the active motion's, or
        the hold at rest."""
        if self._spline is None or self.status is Status.ABORTED:
            rest = np.zeros_like(self._hold)
            return self._hold.copy(), rest, rest.copy()
        return self._spline.evaluate(max(now - self._start, 0.0))

    def sample(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Desired (positions, velocities) at ``now``; the hold position when idle or done."""
        positions, velocities, _ = self.desired_state(now)
        return positions, velocities

    def _spline_for(self, traj: TrajectoryGoal, now: float) -> JointSpline:
        """The spline from the desired state at ``now`` through the points still ahead."""
        order = [list(traj.joint_names).index(j) for j in self.joint_names]
        start = float(traj.start_time) if traj.start_time else now
        due = np.array([start + p.time_from_start for p in traj.points]) - now
        first = int(np.argmax(due >= 0))  # first point still ahead (validate: the last one is)
        points = list(traj.points)[first:]
        times = due[first:].copy()
        times[0] = max(times[0], _FIRST_SEGMENT_MIN)  # a first point due now: jump to it
        has_velocities = all(_opt(p.velocities) is not None for p in points)
        has_accelerations = has_velocities and all(
            _opt(p.accelerations) is not None for p in points
        )

        def stack(field: str) -> np.ndarray:
            return np.stack([np.asarray(getattr(p, field), float)[order] for p in points])

        q0, dq0, ddq0 = self.desired_state(now)
        return JointSpline(
            q0,
            times,
            stack("positions"),
            stack("velocities") if has_velocities else None,
            stack("accelerations") if has_accelerations else None,
            dq0,
            ddq0,
        )

    def _limit_violation(self, spline: JointSpline) -> str | None:
        """Why the motion of ``spline`` breaks a velocity, acceleration or jerk limit as a
        Panda samples it (1 kHz finite differences), or None."""
        if all(limit is None for limit in self.limits.values()):
            return None
        peaks = spline.sampled_derivatives(CONTROL_PERIOD).peaks()
        sampled = dict(zip(self.limits, peaks, strict=True))
        units = {"velocity": "rad/s", "acceleration": "rad/s^2", "jerk": "rad/s^3"}
        for name, limit in self.limits.items():
            if limit is None:
                continue
            over = np.flatnonzero(sampled[name] > limit * (1 + self.limit_tolerance))
            if over.size:
                j = over[np.argmax(sampled[name][over] / limit[over])]
                return (
                    f"{self.joint_names[j]} {name} {sampled[name][j]:.4g} {units[name]} "
                    f"exceeds its limit {limit[j]:.4g} {units[name]} (executed spline sampled "
                    f"at {1 / CONTROL_PERIOD:.0f} Hz)"
                )
        return None

    def update(
        self, now: float, positions: Sequence[float], velocities: Sequence[float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Check tolerances against the measured state, update :attr:`status`, and return the
        command (positions, velocities) for ``now``."""
        q = np.asarray(positions, dtype=np.float64)
        desired, vel = self.sample(now)
        if self.status is Status.EXECUTING:
            err = np.abs(q - desired)
            end = self.end_time
            if now < end and self.path_tolerance is not None and np.any(err > self.path_tolerance):
                return self._abort(q, f"path tolerance exceeded (max error {err.max():.4f})")
            if now >= end:
                if self.goal_tolerance is None or np.all(err <= self.goal_tolerance):
                    self.status = Status.SUCCEEDED
                elif now > end + self.goal_time_tolerance:
                    return self._abort(q, f"goal tolerance not met (max error {err.max():.4f})")
        return desired, vel

    def _abort(self, q: np.ndarray, reason: str) -> tuple[np.ndarray, np.ndarray]:
        self._hold = q.copy()
        self.status = Status.ABORTED
        self.last_reason = reason
        return self._hold.copy(), np.zeros_like(q)
