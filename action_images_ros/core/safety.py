"""Limits every robot command must respect: joint positions, joint velocities, a workspace box.

A command is made safe or refused, never passed through unchecked:
- non-finite values are refused (SafetyError);
- end-effector targets are clamped into the workspace box;
- joint positions are clamped into the limits shrunk by a margin;
- waypoint velocities are chosen for cubic interpolation (as joint_trajectory_controller does
  with positions and velocities), starting from rest at the current state and ending at rest;
- if the interpolated motion would exceed a joint velocity limit anywhere, the whole trajectory
  is slowed down by the largest ratio (MoveIt Servo scales by the smallest clamp ratio in the
  same way), so the path is kept and only the timing changes.
The result is checked once more, so a returned trajectory never exceeds a configured limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class SafetyError(ValueError):
    """A command that cannot be made safe (non-finite values, bad shapes, bad limits)."""


@dataclass(frozen=True)
class SafetyLimits:
    """Joint and workspace limits (arrays in joint order; workspace in the base frame, metres).

    `position_margin` (rad) keeps commands this far inside the position limits.
    """

    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    workspace_min: np.ndarray = field(default_factory=lambda: np.full(3, -np.inf))
    workspace_max: np.ndarray = field(default_factory=lambda: np.full(3, np.inf))
    position_margin: float = 0.05
    velocity_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("lower", "upper", "max_velocity", "workspace_min", "workspace_max"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        joints = self.lower.shape
        if self.upper.shape != joints or self.max_velocity.shape != joints:
            raise SafetyError("lower, upper and max_velocity must have one entry per joint")
        if np.any(self.upper - self.lower <= 2 * self.position_margin):
            raise SafetyError("every joint needs upper - lower > 2 * position_margin")
        if not np.all(self.max_velocity > 0) or not 0 < self.velocity_scale <= 1:
            raise SafetyError("max_velocity must be positive and velocity_scale in (0, 1]")
        if self.workspace_min.shape != (3,) or np.any(self.workspace_max <= self.workspace_min):
            raise SafetyError("the workspace box needs 3 bounds with max > min")

    @property
    def velocity_limit(self) -> np.ndarray:
        return self.max_velocity * self.velocity_scale


@dataclass(frozen=True)
class SafeTrajectory:
    """A joint trajectory within the limits, and what was changed to get there."""

    positions: np.ndarray  # (N, J)
    times: np.ndarray  # (N,) seconds from start, strictly increasing
    velocities: np.ndarray  # (N, J), zero at the last point
    clamped_joints: tuple[int, ...]  # joints whose positions were clamped
    time_scale: float  # >= 1: how much the timing was stretched


def clamp_to_workspace(positions: np.ndarray, limits: SafetyLimits) -> tuple[np.ndarray, bool]:
    """End-effector positions (..., 3) clamped into the workspace box; True if any moved."""
    positions = np.asarray(positions, dtype=np.float64)
    if not np.all(np.isfinite(positions)):
        raise SafetyError("end-effector targets contain non-finite values")
    clamped = np.clip(positions, limits.workspace_min, limits.workspace_max)
    return clamped, bool(np.any(clamped != positions))


def limit_joint_trajectory(
    current: np.ndarray, positions: np.ndarray, times: np.ndarray, limits: SafetyLimits
) -> SafeTrajectory:
    """Make a joint trajectory that starts from `current` respect `limits` (see module doc)."""
    current = np.asarray(current, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    joints = limits.lower.shape[0]
    if current.shape != (joints,) or positions.ndim != 2 or positions.shape[1] != joints:
        raise SafetyError(
            f"expected current ({joints},) and positions (N, {joints}), "
            f"got {current.shape} and {positions.shape}"
        )
    if len(positions) == 0 or times.shape != (len(positions),):
        raise SafetyError(f"need N >= 1 points and N times, got {positions.shape}, {times.shape}")
    for name, array in (("current", current), ("positions", positions), ("times", times)):
        if not np.all(np.isfinite(array)):
            raise SafetyError(f"{name} contains non-finite values")
    if times[0] <= 0 or np.any(np.diff(times) <= 0):
        raise SafetyError("times must be positive and strictly increasing")

    lower, upper = limits.lower + limits.position_margin, limits.upper - limits.position_margin
    safe = np.clip(positions, lower, upper)
    clamped = tuple(int(j) for j in np.flatnonzero(np.any(safe != positions, axis=0)))

    path = np.vstack([np.clip(current, limits.lower, limits.upper), safe])
    knots = np.concatenate([[0.0], times])
    # Stretching time by k divides every speed of the same-shaped spline by k.
    speeds = max_spline_speeds(path, knots, _velocities(path, knots))
    scale = max(1.0, float(np.max(speeds / limits.velocity_limit)) * (1 + 1e-9))
    scaled_times = times * scale
    velocities = _velocities(path, np.concatenate([[0.0], scaled_times]))

    result = SafeTrajectory(safe, scaled_times, velocities, clamped, scale)
    _verify(result, path, limits)
    return result


def _velocities(path: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Velocities at the points after the start (which is at rest): the slower of the two
    adjacent segment velocities where they agree in sign, else zero; zero at the end."""
    segment = np.diff(path, axis=0) / np.diff(times)[:, None]
    before, after = segment[:-1], segment[1:]
    inner = np.where(
        np.sign(before) == np.sign(after),
        np.sign(before) * np.minimum(np.abs(before), np.abs(after)),
        0.0,
    )
    return np.vstack([inner, np.zeros((1, path.shape[1]))])


def max_spline_speeds(path: np.ndarray, times: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """Per joint, the largest |dq/dt| of the cubic Hermite spline through `path` (N+1, J) at
    `times` (N+1,), at rest at the start and with `velocities` (N, J) at the later points."""
    v = np.vstack([np.zeros((1, path.shape[1])), velocities])
    h = np.diff(times)[:, None]
    rise = np.diff(path, axis=0)
    # h * dq/dt = a s^2 + b s + c on each segment, s in [0, 1].
    a = -6 * rise + 3 * h * (v[:-1] + v[1:])
    b = 6 * rise - 4 * h * v[:-1] - 2 * h * v[1:]
    c = h * v[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(a != 0, np.clip(-b / (2 * a), 0.0, 1.0), 0.0)
    candidates = [c, a + b + c, a * vertex**2 + b * vertex + c]
    return np.max(np.abs(np.stack(candidates)) / h, axis=(0, 1))


def _verify(trajectory: SafeTrajectory, path: np.ndarray, limits: SafetyLimits) -> None:
    if np.any(trajectory.positions < limits.lower) or np.any(trajectory.positions > limits.upper):
        raise AssertionError("safety: a position limit would be exceeded")
    knots = np.concatenate([[0.0], trajectory.times])
    speeds = max_spline_speeds(path, knots, trajectory.velocities)
    if np.any(speeds > limits.velocity_limit * (1 + 1e-6)):
        raise AssertionError("safety: a velocity limit would be exceeded")
