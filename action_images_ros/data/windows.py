"""Windows of steps spaced by a time interval, built from each step's real timestamp.

Episodes keep the stamp of every step, and a step can be missing (no camera set near its due
time). A model trained at a frame interval of 0.2 s must see frames 0.2 s apart, so a window is
built by walking from its first step to the step nearest each next `interval`, and is skipped
when a gap is not within `tolerance` of the interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Windows:
    """The windows of one episode: step indices (N, frames), and how many were skipped."""

    steps: np.ndarray
    skipped: int


def timed_windows(
    timestamps: np.ndarray,
    frames: int,
    interval: float,
    tolerance: float | None = None,
    fps: float | None = None,
) -> Windows:
    """Every window of `frames` steps `interval` seconds apart, one per possible first step.

    `tolerance` defaults to 0.4 / fps (less than half a step, so a missing step is never
    replaced by its neighbour) or, without `fps`, to a quarter of the interval. A first step
    whose window would end after the last step is no candidate; a candidate whose gaps are not
    within the tolerance is counted in `skipped`.
    """
    times = np.asarray(timestamps, dtype=np.float64)
    if frames < 1 or not interval > 0:
        raise ValueError(f"need frames >= 1 and interval > 0, got {frames} and {interval}")
    if tolerance is None:
        tolerance = 0.4 / fps if fps else 0.25 * interval
    windows, skipped = [], 0
    span = (frames - 1) * interval
    for start in range(len(times)):
        if times[start] + span > times[-1] + tolerance:
            break
        steps, ok = [start], True
        for _ in range(frames - 1):
            target = times[steps[-1]] + interval
            index = int(np.searchsorted(times, target))
            near = [i for i in (index - 1, index) if 0 <= i < len(times) and i > steps[-1]]
            best = min(near, key=lambda i: abs(times[i] - target), default=None)
            if best is None or abs(times[best] - target) > tolerance:
                ok = False
                break
            steps.append(best)
        if ok:
            windows.append(steps)
        else:
            skipped += 1
    steps = np.array(windows, dtype=np.int64).reshape(-1, frames)
    return Windows(steps, skipped)
