"""A message-free joint trajectory controller with ros2_controllers' joint_trajectory_controller
semantics (Jazzy), for the simulator and for tests.

- A trajectory names every controller joint, in any order; it is validated as a whole and
  rejected with a reason (the active motion, or the hold, is left untouched).
- An accepted trajectory replaces the active one and splines from the current state (given to
  :meth:`JointTrajectoryController.set_trajectory`) to its first point.
- Interpolation per segment: positions only -> linear, + velocities -> cubic Hermite,
  + accelerations -> quintic. After the last point the controller holds it.
- ``start_time`` None or 0 means "start now"; a trajectory whose end is already past is rejected.
- Optional path / goal tolerances abort the motion and hold the current position.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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
class JointTrajectory:
    """Joint names and points; ``start_time`` (controller clock, s) None or 0 = start now."""

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
        velocity_limits: optional; points whose velocities exceed them are rejected.
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
    ) -> None:
        self.joint_names = list(joint_names)
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        self.velocity_limits = None if velocity_limits is None else np.asarray(velocity_limits)
        self.path_tolerance = path_tolerance
        self.goal_tolerance = goal_tolerance
        self.goal_time_tolerance = goal_time_tolerance
        self.status = Status.IDLE
        self.last_reason = ""
        self._hold = np.clip(np.zeros(len(self.joint_names)), self.lower, self.upper)
        self._times: np.ndarray | None = None
        self._pos = self._vel = self._acc = None

    @property
    def active(self) -> bool:
        """True while a trajectory is being executed."""
        return self.status is Status.EXECUTING

    @property
    def end_time(self) -> float | None:
        """Controller-clock time of the active (or last) trajectory's final point."""
        return None if self._times is None else float(self._times[-1])

    def reset(self, positions: Sequence[float]) -> None:
        """Drop any trajectory and hold ``positions``."""
        self._hold = np.asarray(positions, dtype=np.float64).copy()
        self._times = None
        self.status = Status.IDLE

    def validate(self, traj: JointTrajectory, now: float = 0.0) -> str | None:
        """The reason ``traj`` would be rejected at time ``now``, or None if it is valid."""
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

    def set_trajectory(
        self,
        traj: JointTrajectory,
        now: float,
        current_positions: Sequence[float],
        current_velocities: Sequence[float] | None = None,
    ) -> Acceptance:
        """Validate and, if valid, replace the active trajectory (current state in controller
        joint order). A rejected trajectory changes nothing."""
        reason = self.validate(traj, now)
        if reason is not None:
            self.last_reason = reason
            return Acceptance(False, reason)
        order = [list(traj.joint_names).index(j) for j in self.joint_names]
        start = float(traj.start_time) if traj.start_time else now
        abs_t = np.array([start + p.time_from_start for p in traj.points])
        keep = abs_t >= now
        first = int(np.argmax(keep))  # first point still ahead (validate: the last one is)
        pts = list(traj.points)[first:]
        q0 = np.asarray(current_positions, dtype=np.float64)
        dq0 = np.zeros_like(q0) if current_velocities is None else np.asarray(current_velocities)
        has_vel = all(_opt(p.velocities) is not None for p in pts)
        has_acc = has_vel and all(_opt(p.accelerations) is not None for p in pts)
        self._times = np.concatenate([[max(now, start)], abs_t[first:]])
        self._pos = np.stack([q0] + [np.asarray(p.positions, float)[order] for p in pts])
        self._vel = (
            np.stack([dq0] + [np.asarray(p.velocities, float)[order] for p in pts])
            if has_vel
            else None
        )
        self._acc = (
            np.stack([np.zeros_like(q0)] + [np.asarray(p.accelerations, float)[order] for p in pts])
            if has_acc
            else None
        )
        if self._times[1] <= self._times[0]:  # first point due now: jump to it
            self._times[0] = self._times[1] - 1e-9
        self._hold = self._pos[-1].copy()
        self.status = Status.EXECUTING
        self.last_reason = ""
        return Acceptance(True)

    def sample(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Desired (positions, velocities) at ``now``; the hold position when idle or done."""
        if self._times is None or now >= self._times[-1] or self.status is Status.ABORTED:
            return self._hold.copy(), np.zeros_like(self._hold)
        if now < self._times[0]:
            return self._pos[0].copy(), np.zeros_like(self._hold)
        k = int(np.searchsorted(self._times, now, side="right")) - 1
        t0, t1 = self._times[k], self._times[k + 1]
        h, s = t1 - t0, (now - t0) / (t1 - t0)
        p0, p1 = self._pos[k], self._pos[k + 1]
        if self._vel is None:
            return p0 + s * (p1 - p0), (p1 - p0) / h
        v0, v1 = self._vel[k] * h, self._vel[k + 1] * h
        if self._acc is None:  # cubic Hermite
            c = (
                np.array(
                    [
                        2 * s**3 - 3 * s**2 + 1,
                        s**3 - 2 * s**2 + s,
                        -2 * s**3 + 3 * s**2,
                        s**3 - s**2,
                    ]
                ),
                np.array(
                    [6 * s**2 - 6 * s, 3 * s**2 - 4 * s + 1, -6 * s**2 + 6 * s, 3 * s**2 - 2 * s]
                )
                / h,
            )
            basis = np.stack([p0, v0, p1, v1])
            return c[0] @ basis, c[1] @ basis
        a0, a1 = self._acc[k] * h * h, self._acc[k + 1] * h * h
        d = p1 - p0  # quintic with boundary pos/vel/acc, in normalised time
        c3 = 10 * d - 6 * v0 - 4 * v1 - 1.5 * a0 + 0.5 * a1
        c4 = -15 * d + 8 * v0 + 7 * v1 + 1.5 * a0 - a1
        c5 = 6 * d - 3 * v0 - 3 * v1 - 0.5 * a0 + 0.5 * a1
        pos = p0 + v0 * s + 0.5 * a0 * s**2 + c3 * s**3 + c4 * s**4 + c5 * s**5
        vel = v0 + a0 * s + 3 * c3 * s**2 + 4 * c4 * s**3 + 5 * c5 * s**4
        return pos, vel / h

    def update(
        self, now: float, positions: Sequence[float], velocities: Sequence[float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Check tolerances against the measured state, update :attr:`status`, and return the
        command (positions, velocities) for ``now``."""
        q = np.asarray(positions, dtype=np.float64)
        desired, vel = self.sample(now)
        if self.status is Status.EXECUTING:
            err = np.abs(q - desired)
            end = float(self._times[-1])
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
