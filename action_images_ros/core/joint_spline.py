"""The joint motion that joint_trajectory_controller (ROS 2 Jazzy) executes for a trajectory.

JTC splines from the state the arm is in (position, velocity, acceleration at t = 0) through
the trajectory's points, one polynomial per segment, chosen by what the points carry:
positions only -> linear, + velocities -> cubic Hermite, + accelerations -> quintic Hermite.
After the last point it holds that point's position.

The sim's controller executes this spline and the safety layer verifies it, so both judge the
same motion. The cubic case uses :class:`scipy.interpolate.CubicHermiteSpline`; scipy has no
piecewise quintic Hermite interpolant with per-knot accelerations for vector-valued data
(``BPoly.from_derivatives`` is scalar-only and slow per call), so the quintic segments are
written out here (the standard closed form, the same polynomial JTC evaluates).

Two views of the motion:
- :meth:`JointSpline.peaks` (and per segment :meth:`JointSpline.segment_peaks`): per joint,
  the peak |velocity|, |acceleration|, |jerk| and the
  position range (widened by that bound, so it always holds) over the whole motion. Each
  segment is sampled at ``SAMPLES_PER_SEGMENT``
  equally spaced instants and, from the largest sample, Newton's method on the next
  derivative finds the critical point next to it, so the peak is the polynomial's maximum.
  Only where a segment has two humps whose heights differ by less than the function rises
  between samples can a peak be missed, and then by at most ``max|f''| * delta**2 / 8``
  (delta = sample spacing, 1/24 of the segment), about 0.1 % of the peak.
- :meth:`JointSpline.sampled_derivatives`: velocity, acceleration and jerk by backward finite
  differences of the positions sampled at a control rate (a Franka Panda checks its commanded
  signal this way at 1 kHz), including the samples just before t = 0 (continued from the
  start state) and after the end (the hold). This is what reveals a velocity or acceleration
  jump at a knot, which the per-segment peaks do not see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicHermiteSpline

SAMPLES_PER_SEGMENT = 25
NEWTON_STEPS = 8
CANDIDATES = 3  # local maxima refined per segment, joint and derivative
_DEGREE = 5  # every segment is stored as a quintic in local time (lower kinds pad zeros)


@dataclass(frozen=True)
class Peaks:
    """Per joint (J,): upper bounds on peak |velocity|, |acceleration|, |jerk| and the lowest
    and highest position over the whole motion (see the module doc for the bound)."""

    velocity: np.ndarray
    acceleration: np.ndarray
    jerk: np.ndarray
    lowest: np.ndarray
    highest: np.ndarray


@dataclass(frozen=True)
class SampledDerivatives:
    """Backward finite differences of positions sampled every ``dt`` s, at ``times`` (K,):
    ``velocity``, ``acceleration``, ``jerk`` (K, J)."""

    times: np.ndarray
    positions: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    jerk: np.ndarray

    def peaks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per joint max |velocity|, |acceleration|, |jerk|."""
        return (
            np.abs(self.velocity).max(axis=0),
            np.abs(self.acceleration).max(axis=0),
            np.abs(self.jerk).max(axis=0),
        )


class JointSpline:
    """The spline from a start state through waypoints, as JTC interpolates it.

    Args:
        start_position: (J,) joint positions at t = 0.
        times: (N,) waypoint times, strictly increasing and > 0 (seconds from the start).
        positions: (N, J) waypoint positions.
        velocities: optional (N, J) waypoint velocities (cubic, or quintic with accelerations).
        accelerations: optional (N, J) waypoint accelerations (needs velocities).
        start_velocity, start_acceleration: (J,) state at t = 0; None = zero.

    Raises:
        ValueError: on shapes that do not match, non-finite values or bad times.
    """

    def __init__(
        self,
        start_position: np.ndarray,
        times: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray | None = None,
        accelerations: np.ndarray | None = None,
        start_velocity: np.ndarray | None = None,
        start_acceleration: np.ndarray | None = None,
    ) -> None:
        q0 = np.asarray(start_position, dtype=np.float64)
        times = np.asarray(times, dtype=np.float64)
        positions = np.asarray(positions, dtype=np.float64)
        joints = q0.shape[0] if q0.ndim == 1 else -1
        if q0.ndim != 1 or positions.ndim != 2 or positions.shape[1] != joints:
            raise ValueError(
                f"expected start_position (J,) and positions (N, J), got {q0.shape}, "
                f"{positions.shape}"
            )
        if len(positions) == 0 or times.shape != (len(positions),):
            raise ValueError(
                f"need N >= 1 points and N times, got {positions.shape}, {times.shape}"
            )
        if accelerations is not None and velocities is None:
            raise ValueError("accelerations need velocities (quintic segments need both)")
        dq0 = np.zeros(joints) if start_velocity is None else np.asarray(start_velocity, float)
        ddq0 = (
            np.zeros(joints)
            if start_acceleration is None
            else np.asarray(start_acceleration, float)
        )
        arrays = {
            "start_position": (q0, (joints,)),
            "start_velocity": (dq0, (joints,)),
            "start_acceleration": (ddq0, (joints,)),
            "times": (times, times.shape),
            "positions": (positions, positions.shape),
        }
        if velocities is not None:
            velocities = np.asarray(velocities, dtype=np.float64)
            arrays["velocities"] = (velocities, positions.shape)
        if accelerations is not None:
            accelerations = np.asarray(accelerations, dtype=np.float64)
            arrays["accelerations"] = (accelerations, positions.shape)
        for name, (array, expected) in arrays.items():
            if array.shape != expected:
                raise ValueError(f"{name} has shape {array.shape}, expected {expected}")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{name} contains non-finite values")
        if times[0] <= 0 or np.any(np.diff(times) <= 0):
            raise ValueError("times must be > 0 and strictly increasing")

        self.kind = (
            "linear" if velocities is None else "cubic" if accelerations is None else "quintic"
        )
        self.knots = np.concatenate([[0.0], times])
        self.start = (q0, dq0, ddq0)
        path = np.vstack([q0, positions])
        h = np.diff(self.knots)[:, None]
        coef = np.zeros((len(times), _DEGREE + 1, joints))
        if self.kind == "linear":
            coef[:, 0], coef[:, 1] = path[:-1], np.diff(path, axis=0) / h
        elif self.kind == "cubic":
            spline = CubicHermiteSpline(self.knots, path, np.vstack([dq0, velocities]), axis=0)
            coef[:, :4] = spline.c[::-1].transpose(1, 0, 2)  # scipy: highest power first
        else:
            coef[:] = _quintic(
                path,
                np.vstack([dq0, velocities]),
                np.vstack([ddq0, accelerations]),
                h,
            )
        self.coefficients = coef  # (S, 6, J): coefficient of tau**p, tau = t - knots[segment]
        self.end_position = positions[-1].copy()

    @property
    def duration(self) -> float:
        """Time of the last point (s)."""
        return float(self.knots[-1])

    @property
    def joints(self) -> int:
        return self.coefficients.shape[2]

    def evaluate(self, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions, velocities, accelerations at ``t`` (scalar -> (J,), (T,) -> (T, J)).

        Before 0 the start state; after the end the last point's position, at rest."""
        t_arr = np.asarray(t, dtype=np.float64)
        flat = np.atleast_1d(t_arr)
        q, dq, ddq = (np.empty((flat.size, self.joints)) for _ in range(3))
        after = flat >= self.duration
        q[after], dq[after], ddq[after] = self.end_position, 0.0, 0.0
        inside = ~after
        clipped = np.maximum(flat[inside], 0.0)
        segment = np.clip(np.searchsorted(self.knots, clipped, side="right") - 1, 0, None)
        tau = (clipped - self.knots[segment])[:, None]
        c = self.coefficients[segment]  # (T, 6, J)
        q[inside] = _horner(c, tau)
        dq[inside] = _horner(_derivative(c), tau)
        ddq[inside] = _horner(_derivative(_derivative(c)), tau)
        if t_arr.ndim == 0:
            return q[0], dq[0], ddq[0]
        return q, dq, ddq

    def peaks(self) -> Peaks:
        """Peak |v|, |a|, |jerk| and the position range over the whole motion (module doc)."""
        per_segment = self.segment_peaks()
        return Peaks(
            velocity=per_segment.velocity.max(axis=0),
            acceleration=per_segment.acceleration.max(axis=0),
            jerk=per_segment.jerk.max(axis=0),
            lowest=np.minimum(per_segment.lowest.min(axis=0), self.end_position),
            highest=np.maximum(per_segment.highest.max(axis=0), self.end_position),
        )

    def segment_peaks(self) -> Peaks:
        """Like :meth:`peaks`, per segment: every field (S, J), segment s from knots[s] to
        knots[s + 1] (what a planner needs to slow down only the segments that break a limit)."""
        h = np.diff(self.knots)[:, None, None]  # (S, 1, 1)
        scaled = self.coefficients * h ** np.arange(_DEGREE + 1)[:, None]  # in s = tau / h
        # f[d]: coefficients in s of the d-th derivative (d = 0..5), still in s units
        f = [scaled]
        for _ in range(_DEGREE):
            f.append(_derivative(f[-1]))
        # (6, 4, S, 1, J): power first, so that Horner's steps read contiguous blocks
        value, slope, curve = (
            np.ascontiguousarray(np.stack(f[i : i + 4]).transpose(2, 0, 1, 3)[:, :, :, None])
            for i in range(3)
        )
        grid = np.linspace(0.0, 1.0, SAMPLES_PER_SEGMENT)[:, None]  # (M, 1)
        spacing = 1.0 / (SAMPLES_PER_SEGMENT - 1)
        at_samples = _horner_s(value, grid)  # (4, S, M, J)
        # Refine from the largest local maxima among the samples of |f| (and, for positions, of
        # -f) of each segment and joint to the critical point next to each, by Newton's method
        # on the derivative.
        magnitude = np.concatenate([np.abs(at_samples), -at_samples[0:1]])  # (5, S, M, J)
        padded = np.pad(magnitude, ((0, 0), (0, 0), (1, 1), (0, 0)), constant_values=-np.inf)
        local = (magnitude >= padded[:, :, :-2]) & (magnitude >= padded[:, :, 2:])
        ranked = np.where(local, magnitude, -np.inf)
        starts = np.argpartition(-ranked, CANDIDATES - 1, axis=2)[:, :, :CANDIDATES]
        order = np.array([0, 1, 2, 3, 0])
        s = grid[starts, 0]
        value, slope, curve = (c[:, order] for c in (value, slope, curve))
        s = _critical_points(slope, curve, s, spacing)
        refined = _horner_s(value, s)  # (5, S, CANDIDATES, J)
        units = h[None] ** np.arange(4)[:, None, None, None]  # back from s to seconds
        both = np.concatenate([at_samples, refined[:4]], axis=2) / units
        peak = np.abs(both[1:]).max(axis=2)  # (3, S, J)
        positions = np.concatenate([both[0], refined[4]], axis=1)  # (S, M + C, J)
        # Positions get the rigorous margin: an extremum can rise above its samples by at
        # most max|acceleration| * (sample spacing)^2 / 8.
        slack = np.abs(both[2]).max(axis=1) * (h[:, 0] * spacing) ** 2 / 8  # (S, J)
        return Peaks(
            velocity=peak[0],
            acceleration=peak[1],
            jerk=peak[2],
            lowest=positions.min(axis=1) - slack,
            highest=positions.max(axis=1) + slack,
        )

    def knot_states(
        self, after: float, before: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The knots strictly between `after` and `before` (s from the start): times (K,),
        positions, velocities, accelerations (K, J). A trajectory through these states from
        any state of this spline between two of them reproduces this spline exactly there (a
        quintic Hermite segment between two states of one quintic is that quintic)."""
        knots = self.knots[1:]
        knots = knots[(knots > after) & (knots < before)]
        q, dq, ddq = self.evaluate(knots)
        shape = (len(knots), self.joints)
        return knots, q.reshape(shape), dq.reshape(shape), ddq.reshape(shape)

    def positions_at(self, t: np.ndarray) -> np.ndarray:
        """Positions (T, J) at times ``t`` (T,) (the start before 0, the hold after the end)."""
        t = np.clip(np.asarray(t, dtype=np.float64), 0.0, self.duration)
        segment = np.clip(np.searchsorted(self.knots, t, side="right") - 1, 0, len(self.knots) - 2)
        tau = (t - self.knots[segment])[:, None]
        return _horner(self.coefficients[segment], tau)

    def sampled_derivatives(self, dt: float = 1e-3) -> SampledDerivatives:
        """Backward differences of positions sampled every ``dt`` s, from 3 samples before
        t = 0 (continued from the start state at constant acceleration) to 3 after the end,
        at every sample from ``dt`` on (each difference involves the new motion)."""
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        count = int(np.ceil(self.duration / dt)) + 4
        times = dt * np.arange(-3, count)
        q = self.positions_at(times)
        before = times < 0
        q0, dq0, ddq0 = self.start
        tb = times[before][:, None]
        q[before] = q0 + dq0 * tb + 0.5 * ddq0 * tb**2
        velocity = np.diff(q, axis=0) / dt
        acceleration = np.diff(q, 2, axis=0) / dt**2
        jerk = np.diff(q, 3, axis=0) / dt**3
        # keep the differences that involve at least one sample after t = 0
        return SampledDerivatives(
            times=times[4:],
            positions=q[4:],
            velocity=velocity[3:],
            acceleration=acceleration[2:],
            jerk=jerk[1:],
        )


def _quintic(path: np.ndarray, v: np.ndarray, a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(S, 6, J) power-basis coefficients of the quintic Hermite segments through ``path``
    (S+1, J) with velocities ``v`` and accelerations ``a`` at the knots, durations ``h`` (S, 1)."""
    d = np.diff(path, axis=0)
    v0, v1, a0, a1 = v[:-1], v[1:], a[:-1], a[1:]
    c3 = (20 * d - (8 * v1 + 12 * v0) * h - (3 * a0 - a1) * h**2) / (2 * h**3)
    c4 = (-30 * d + (14 * v1 + 16 * v0) * h + (3 * a0 - 2 * a1) * h**2) / (2 * h**4)
    c5 = (12 * d - 6 * (v1 + v0) * h + (a1 - a0) * h**2) / (2 * h**5)
    return np.stack([path[:-1], v0, a0 / 2, c3, c4, c5], axis=1)


def _derivative(c: np.ndarray) -> np.ndarray:
    """Coefficients (..., 6, J) of the derivative, same layout."""
    out = np.zeros_like(c)
    out[..., :-1, :] = c[..., 1:, :] * np.arange(1, c.shape[-2])[:, None]
    return out


def _critical_points(
    slope: np.ndarray, curve: np.ndarray, s: np.ndarray, spacing: float
) -> np.ndarray:
    """Where the derivative ``slope`` (its own derivative ``curve``) vanishes within
    ``spacing`` of the samples ``s``: safeguarded Newton steps inside the bracket where it
    changes sign (bisection where a step would leave it); ``s`` itself where it does not."""
    lo, hi = np.clip(s - spacing, 0.0, 1.0), np.clip(s + spacing, 0.0, 1.0)
    g_lo, g_hi = _horner_s(slope, lo), _horner_s(slope, hi)
    bracketed = g_lo * g_hi <= 0
    # the sign the derivative has on lo's side of the root (lo itself may be a root: a knot)
    side = np.where(g_lo != 0, np.sign(g_lo), -np.sign(g_hi))
    x = np.where((s == lo) | (s == hi), 0.5 * (lo + hi), s)  # a segment end may be a root
    for _ in range(NEWTON_STEPS):
        g, g2 = _horner_s(slope, x), _horner_s(curve, x)
        left = np.sign(g) == side  # x is on lo's side: it becomes the new lo
        lo = np.where(left, x, lo)
        hi = np.where(left, hi, x)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            newton = x - g / g2
        inside = (newton >= lo) & (newton <= hi)
        x = np.where(inside, newton, 0.5 * (lo + hi))
    return np.where(bracketed, x, s)


def _horner_s(c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Evaluate coefficients (6, ..., 1, J) (power first) at s (..., M, J)."""
    out = c[-1] * s
    for p in range(len(c) - 2, 0, -1):
        out += c[p]
        out *= s
    return out + c[0]


def _horner(c: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Evaluate (T, 6, J) coefficients at tau (T, 1)."""
    out = c[:, -1]
    for p in range(c.shape[1] - 2, -1, -1):
        out = out * tau + c[:, p]
    return out
