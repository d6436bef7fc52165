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


def window_tolerance(interval: float, fps: float | None = None) -> float:
    """How far a gap may be from `interval`: 0.4 / fps (less than half a step, so a missing
    step is never replaced by its neighbour) or, without `fps`, a quarter of the interval."""
    return 0.4 / fps if fps else 0.25 * interval


def window_from(
    times: np.ndarray, start: int, frames: int, interval: float, tolerance: float
) -> list[int] | None:
    """The window of `frames` steps that begins at step `start`, each next step the one nearest
    `interval` after the previous; None when a gap is not within `tolerance` of the interval
    (or the steps run out)."""
    steps = [start]
    for _ in range(frames - 1):
        target = times[steps[-1]] + interval
        index = int(np.searchsorted(times, target))
        near = [i for i in (index - 1, index) if 0 <= i < len(times) and i > steps[-1]]
        best = min(near, key=lambda i: abs(times[i] - target), default=None)
        if best is None or abs(times[best] - target) > tolerance:
            return None
        steps.append(best)
    return steps


def timed_windows(
    timestamps: np.ndarray,
    frames: int,
    interval: float,
    tolerance: float | None = None,
    fps: float | None = None,
) -> Windows:
    """Every window of `frames` steps `interval` seconds apart, one per possible first step.

    `tolerance` defaults to `window_tolerance(interval, fps)`. A first step whose window would
    end after the last step is no candidate; a candidate whose gaps are not within the
    tolerance is counted in `skipped`.
    """
    times = np.asarray(timestamps, dtype=np.float64)
    if frames < 1 or not interval > 0:
        raise ValueError(f"need frames >= 1 and interval > 0, got {frames} and {interval}")
    if tolerance is None:
        tolerance = window_tolerance(interval, fps)
    windows, skipped = [], 0
    span = (frames - 1) * interval
    for start in range(len(times)):
        if times[start] + span > times[-1] + tolerance:
            break
        steps = window_from(times, start, frames, interval, tolerance)
        if steps is None:
            skipped += 1
        else:
            windows.append(steps)
    steps = np.array(windows, dtype=np.int64).reshape(-1, frames)
    return Windows(steps, skipped)


def disjoint(windows: np.ndarray) -> np.ndarray:
    """The windows (N, frames) of `timed_windows` that share no step, taken in time order:
    each next one starts after the last step of the one before (for labeling or evaluating
    every step once)."""
    kept, next_free = [], 0
    for steps in windows:
        if steps[0] >= next_free:
            kept.append(steps)
            next_free = steps[-1] + 1
    return np.array(kept, dtype=np.int64).reshape(-1, windows.shape[1])


class WindowStream:
    """`timed_windows` for a stream of steps, splitting them into disjoint windows (each step
    labeled once, e.g. by a model that labels windows): steps come in time order with `push`;
    the oldest step not yet in a window starts the next one, from the steps not yet taken,
    once every step that could belong to it has come. Yields ("window", items) for each window
    and ("gap", item) for a step that starts no window `interval` apart (a gap in time, not
    within `tolerance`); after `finish`, ("end", item) for the last steps that cannot fill a
    window before the stream ended. Holds at most one window's span of steps."""

    def __init__(self, frames: int, interval: float, tolerance: float) -> None:
        if frames < 1 or not interval > 0:
            raise ValueError(f"need frames >= 1 and interval > 0, got {frames} and {interval}")
        self.frames, self.interval, self.tolerance = frames, interval, tolerance
        self._span = (frames - 1) * interval
        self._stamps: list[float] = []
        self._items: list[object] = []

    def push(self, stamp: float, item: object) -> list[tuple[str, object]]:
        self._stamps.append(stamp)
        self._items.append(item)
        events = []
        while self._stamps and self._stamps[-1] > self._stamps[0] + self._span + self.tolerance:
            events.append(self._take())  # every candidate of the oldest step's window is here
        return events

    def finish(self) -> list[tuple[str, object]]:
        events = []
        while self._stamps:
            if self._stamps[0] + self._span > self._stamps[-1] + self.tolerance:
                events.append(("end", self._pop([0])[0]))
            else:
                events.append(self._take())
        return events

    def _take(self) -> tuple[str, object]:
        steps = window_from(np.asarray(self._stamps), 0, self.frames, self.interval, self.tolerance)
        if steps is None:
            return "gap", self._pop([0])[0]
        return "window", self._pop(steps)

    def _pop(self, indices: list[int]) -> list[object]:
        taken = [self._items[i] for i in indices]
        for i in sorted(indices, reverse=True):
            del self._stamps[i], self._items[i]
        return taken
