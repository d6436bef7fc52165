"""The latest time-consistent set of camera frames, on demand.

Written here rather than taken from message_filters: its ApproximateTimeSynchronizer calls back
once per matched set, while a policy that needs seconds per chunk wants, when it is ready, the
newest set whose stamps agree, and never one that has gone stale. message_filters is also not
installable without a ROS distribution. This class holds no ROS types: stamps are seconds.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SyncedSet:
    """One frame per camera, in the synchronizer's camera order."""

    stamps: tuple[float, ...]
    frames: tuple[Any, ...]

    @property
    def stamp(self) -> float:
        """The set's stamp: the oldest of its frames."""
        return min(self.stamps)

    @property
    def skew(self) -> float:
        return max(self.stamps) - min(self.stamps)


class CameraSynchronizer:
    """Keeps the last `queue_size` frames of each camera and matches them by stamp.

    Thread-safe: camera callbacks `add` frames while the inference thread asks for `latest`.

    Args:
        cameras: the camera keys (e.g. topic names), in the order sets are returned.
        slop: the largest allowed difference between the stamps of one set, in seconds.
        max_age: a set whose oldest frame is older than this (relative to `now`) is stale.
        queue_size: frames kept per camera.
        future_tolerance: a frame stamped more than this after `now` is discarded when `latest`
            is asked (a camera with a wrong clock); it would otherwise stay the newest frame of
            its queue forever and no later set could ever be newer than it.
    """

    def __init__(
        self,
        cameras: Sequence[Hashable],
        slop: float,
        max_age: float,
        queue_size: int = 10,
        future_tolerance: float = 0.1,
    ) -> None:
        if len(cameras) == 0 or len(set(cameras)) != len(cameras):
            raise ValueError(f"cameras must be non-empty and unique, got {list(cameras)}")
        if not slop >= 0 or not max_age > 0 or queue_size < 1 or not future_tolerance >= 0:
            raise ValueError(
                "need slop >= 0, max_age > 0, queue_size >= 1, future_tolerance >= 0; got "
                f"{slop}, {max_age}, {queue_size}, {future_tolerance}"
            )
        self.cameras = tuple(cameras)
        self.slop, self.max_age, self.future_tolerance = slop, max_age, future_tolerance
        self._queues: dict[Hashable, deque[tuple[float, Any]]] = {
            camera: deque(maxlen=queue_size) for camera in self.cameras
        }
        self._lock = threading.Lock()
        self.last_failure = "no frames yet"

    def add(self, camera: Hashable, stamp: float, frame: Any) -> None:
        """Store a frame. Frames may arrive out of order; a repeated stamp replaces the frame."""
        if camera not in self._queues:
            raise KeyError(f"unknown camera {camera!r} (known: {list(self.cameras)})")
        with self._lock:
            queue = self._queues[camera]
            items = [item for item in queue if item[0] != stamp] + [(stamp, frame)]
            items.sort(key=lambda item: item[0])
            queue.clear()
            queue.extend(items[-queue.maxlen :])

    def latest(self, now: float, newer_than: float | None = None) -> SyncedSet | None:
        """The newest set with skew <= slop and age <= max_age, or None.

        Candidate sets are anchored on the first camera's frames, newest first, each other
        camera contributing its frame nearest in time; the first candidate within slop wins.

        With `newer_than`, only a set whose stamp is later than it (e.g. the last set used); a
        `newer_than` after `now` (the clock went back, e.g. a replayed bag restarted) is ignored.
        Frames stamped after `now + future_tolerance` are discarded first.
        When None is returned, `last_failure` says why.
        """
        future = []
        with self._lock:
            for camera, queue in self._queues.items():
                kept = [item for item in queue if item[0] <= now + self.future_tolerance]
                if len(kept) != len(queue):
                    future.append(f"{camera} ({max(item[0] for item in queue) - now:.3f} s ahead)")
                    queue.clear()
                    queue.extend(kept)
            queues = {camera: list(queue) for camera, queue in self._queues.items()}
        if newer_than is not None and newer_than > now + self.future_tolerance:
            newer_than = None
        empty = [str(c) for c, q in queues.items() if not q]
        if empty:
            self.last_failure = f"no frames from {', '.join(empty)}"
            if future:
                self.last_failure += "; discarded frames stamped in the future: " + ", ".join(
                    future
                )
            return None
        anchor, *others = self.cameras
        stale = True
        for anchor_stamp, anchor_frame in reversed(queues[anchor]):
            stamps, frames = [anchor_stamp], [anchor_frame]
            for camera in others:
                stamp, frame = min(queues[camera], key=lambda item: abs(item[0] - anchor_stamp))
                stamps.append(stamp)
                frames.append(frame)
            candidate = SyncedSet(tuple(stamps), tuple(frames))
            if now - candidate.stamp > self.max_age:
                continue
            stale = False
            if newer_than is not None and candidate.stamp <= newer_than:
                continue
            if candidate.skew <= self.slop:
                return candidate
        if stale:
            self.last_failure = f"every frame set is older than max_age={self.max_age} s"
        elif newer_than is not None:
            self.last_failure = f"no consistent set newer than {newer_than:.3f} s"
        else:
            self.last_failure = f"no set whose stamps agree within slop={self.slop} s"
        if future:
            self.last_failure += "; discarded frames stamped in the future: " + ", ".join(future)
        return None

    def stalled(self, now: float, timeout: float) -> list[Hashable]:
        """The cameras whose newest frame (not stamped in the future) is older than `timeout`
        at `now`, or that have none: a stream that stopped."""
        with self._lock:
            newest = {
                camera: max((s for s, _ in queue if s <= now + self.future_tolerance), default=None)
                for camera, queue in self._queues.items()
            }
        return [c for c, stamp in newest.items() if stamp is None or now - stamp > timeout]
