"""Fuzzing the safety layer at scale, before (the old velocity-only algorithm) and after.

    scripts/bootstrap.sh -- python bench/bench_safety.py [--cases 100000] [--seed 0]

Random cases (numpy, Franka Panda limits): policy-like chunks (8 points over 0.4 s, a drift
plus noise), the same with a jump across the joint range, and pure noise, from start states at
rest, moving (velocities up to the limits) or moving and accelerating, near the home pose or
anywhere in the joint range. Each case goes through the current `limit_joint_trajectory` and
through `legacy_limit` (the previous algorithm: positions and velocities for a cubic spline
from rest, slowed down for velocity only). Both outputs are judged as the motion JTC executes
from the arm's actual state (JointSpline), analytically and at 1 kHz as a Panda samples it.

Prints: number of cases, how many were refused and why, for each algorithm the share of
accepted cases exceeding each limit and the worst ratio of peak to limit (must be <= 1 after),
the distribution of the time stretch (the largest factor by which one segment was slowed),
braking points, the share of waypoints (before the last) still reached at their given time,
the duration relative to the given one, and the time per call (p50 / p99).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from action_images_ros.core.joint_spline import JointSpline
from action_images_ros.core.safety import SafetyError, SafetyLimits, limit_joint_trajectory

PANDA = SafetyLimits(
    lower=np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973]),
    upper=np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973]),
    max_velocity=np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61]),
)
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
QUANTITIES = ("position", "velocity", "acceleration", "jerk")


def legacy_limit(
    current: np.ndarray, positions: np.ndarray, times: np.ndarray, limits: SafetyLimits
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The previous algorithm (velocity only, cubic, assumes the arm at rest): waypoints
    clamped with the margin, velocities the slower adjacent slope (0 at sign changes and the
    end), time stretched so the cubic's peak speed meets the velocity limit."""
    lower, upper = limits.lower + limits.position_margin, limits.upper - limits.position_margin
    safe = np.clip(positions, lower, upper)
    path = np.vstack([np.clip(current, limits.lower, limits.upper), safe])
    knots = np.concatenate([[0.0], times])
    speeds = _legacy_speeds(path, knots, _legacy_velocities(path, knots))
    scale = max(1.0, float(np.max(speeds / limits.velocity_limit)) * (1 + 1e-9))
    scaled = times * scale
    return safe, scaled, _legacy_velocities(path, np.concatenate([[0.0], scaled]))


def _legacy_velocities(path: np.ndarray, times: np.ndarray) -> np.ndarray:
    segment = np.diff(path, axis=0) / np.diff(times)[:, None]
    before, after = segment[:-1], segment[1:]
    inner = np.where(
        np.sign(before) == np.sign(after),
        np.sign(before) * np.minimum(np.abs(before), np.abs(after)),
        0.0,
    )
    return np.vstack([inner, np.zeros((1, path.shape[1]))])


def _legacy_speeds(path: np.ndarray, times: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    v = np.vstack([np.zeros((1, path.shape[1])), velocities])
    h = np.diff(times)[:, None]
    rise = np.diff(path, axis=0)
    a = -6 * rise + 3 * h * (v[:-1] + v[1:])
    b = 6 * rise - 4 * h * v[:-1] - 2 * h * v[1:]
    c = h * v[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(a != 0, np.clip(-b / (2 * a), 0.0, 1.0), 0.0)
    candidates = [c, a + b + c, a * vertex**2 + b * vertex + c]
    return np.max(np.abs(np.stack(candidates)) / h, axis=(0, 1))


def draw_case(rng: np.random.Generator) -> tuple[str, tuple[np.ndarray, ...]]:
    """One random case: (kind, (start, velocity, acceleration, chunk, times))."""
    kind = rng.choice(["policy", "jump", "noise"])
    anywhere = rng.random() < 0.2
    margin = PANDA.position_margin
    if anywhere:
        start = rng.uniform(PANDA.lower + margin, PANDA.upper - margin)
    else:
        start = HOME + rng.uniform(-0.3, 0.3, 7)
    motion = rng.choice(["rest", "moving", "accelerating"])
    velocity = np.zeros(7)
    acceleration = np.zeros(7)
    if motion != "rest":
        velocity = rng.uniform(-1, 1, 7) * PANDA.velocity_limit
    if motion == "accelerating":
        room = 1 - np.abs(velocity) / PANDA.velocity_limit
        acceleration = rng.uniform(-1, 1, 7) * PANDA.acceleration_limit * room
    times = 0.05 * np.arange(1, 9)
    if kind == "noise":
        chunk = start + rng.normal(0, 0.05, (8, 7))
    else:
        drift = velocity + rng.normal(0, 0.3, 7)
        chunk = start + drift * times[:, None] + rng.normal(0, 0.003, (8, 7))
        if kind == "jump":
            chunk[rng.integers(8) :] += rng.uniform(-3, 3, 7)
    return f"{kind}/{motion}", (start, velocity, acceleration, chunk, times)


def ratios(spline: JointSpline, limits: SafetyLimits) -> dict[str, float]:
    """Worst ratio of peak to limit (analytic or at 1 kHz, whichever is larger) per quantity;
    for positions 1 + the worst excursion beyond a bound (rad)."""
    peaks = spline.peaks()
    sampled = spline.sampled_derivatives(1e-3).peaks()
    out = {}
    for i, (name, limit) in enumerate(
        zip(
            QUANTITIES[1:],
            (limits.velocity_limit, limits.acceleration_limit, limits.jerk_limit),
            strict=True,
        )
    ):
        out[name] = float(np.max(np.maximum(getattr(peaks, name), sampled[i]) / limit))
    start = spline.start[0]
    beyond = np.maximum(
        np.minimum(limits.lower, start) - peaks.lowest,
        peaks.highest - np.maximum(limits.upper, start),
    )
    out["position"] = 1.0 + max(0.0, float(np.max(beyond)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    refused: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    worst = {"legacy": dict.fromkeys(QUANTITIES, 0.0), "new": dict.fromkeys(QUANTITIES, 0.0)}
    exceeded = {"legacy": Counter(), "new": Counter()}
    accepted = {"legacy": 0, "new": 0}
    stretch, call_time, braking, on_time, duration = [], [], 0, [], []
    stretch_by_kind: dict[str, list[float]] = {}
    for _ in range(args.cases):
        kind, (start, velocity, acceleration, chunk, times) = draw_case(rng)
        kinds[kind] += 1
        positions, legacy_times, legacy_velocities = legacy_limit(start, chunk, times, PANDA)
        executed = JointSpline(
            start, legacy_times, positions, legacy_velocities, None, velocity, acceleration
        )
        _tally("legacy", ratios(executed, PANDA), worst, exceeded, accepted)
        began = time.perf_counter()
        try:
            result = limit_joint_trajectory(start, chunk, times, PANDA, velocity, acceleration)
        except SafetyError as error:
            refused[_reason(str(error))] += 1
            continue
        call_time.append(time.perf_counter() - began)
        stretch.append(result.time_scale)
        kept = result.times[1:] if result.braking else result.times
        # the given waypoints before the last (where the arm comes to rest) reached on time
        on_time.extend(np.isclose(kept[:-1], times[:-1], rtol=1e-9, atol=0.0))
        duration.append(kept[-1] / times[-1])
        stretch_by_kind.setdefault(kind, []).append(result.time_scale)
        braking += result.braking
        _tally("new", ratios(result.spline(), PANDA), worst, exceeded, accepted)

    print(f"cases: {args.cases} (seed {args.seed}); kinds: {dict(sorted(kinds.items()))}")
    print(f"refused by the new layer: {sum(refused.values())}")
    for reason, count in refused.most_common():
        print(f"  {count:6d}  {reason}")
    for name in ("legacy", "new"):
        print(f"{name}: {accepted[name]} trajectories judged as executed from the actual state")
        for quantity in QUANTITIES:
            share = 100 * exceeded[name][quantity] / max(accepted[name], 1)
            print(
                f"  {quantity:12s} exceeded in {share:6.2f} %   worst peak / limit "
                f"{worst[name][quantity]:.4g}"
                + ("  (1 + rad beyond the bound)" if quantity == "position" else "")
            )
    if stretch:
        q = np.percentile(stretch, [0, 50, 90, 99, 100])
        print(
            "time stretch (new): min {:.3g}  p50 {:.3g}  p90 {:.3g}  p99 {:.3g}  max {:.3g}; "
            "unchanged (1.0) in {:.1f} %; braking point inserted in {:.2f} %".format(
                *q, 100 * np.mean(np.asarray(stretch) == 1.0), 100 * braking / len(stretch)
            )
        )
        medians = {
            kind: round(float(np.median(v)), 2) for kind, v in sorted(stretch_by_kind.items())
        }
        print(f"median time stretch by kind: {medians}")
        q = np.percentile(duration, [50, 90, 99])
        print(
            f"waypoints before the last reached at their given time: "
            f"{100 * np.mean(on_time):.1f} %; duration / given: p50 {q[0]:.3g}  p90 {q[1]:.3g}  "
            f"p99 {q[2]:.3g}"
        )
        ms = 1e3 * np.percentile(call_time, [50, 99])
        print(f"time per call (new): p50 {ms[0]:.2f} ms  p99 {ms[1]:.2f} ms")


def _tally(name: str, ratio: dict, worst: dict, exceeded: dict, accepted: dict) -> None:
    accepted[name] += 1
    for quantity, value in ratio.items():
        worst[name][quantity] = max(worst[name][quantity], value)
        if value > 1 + 1e-9:
            exceeded[name][quantity] += 1


def _reason(message: str) -> str:
    """The message without the numbers that differ between cases."""
    return " ".join("#" if any(c.isdigit() for c in word) else word for word in message.split())


if __name__ == "__main__":
    main()
