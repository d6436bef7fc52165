"""A time-indexed transform tree, as tf2 keeps it, for reading TF out of recorded bags.

tf2_ros needs a ROS distribution and a running node; offline labeling needs neither, so this
small buffer does what labeling uses: static and dynamic edges, chained lookups between any two
frames of one tree, and interpolation in time (linear for translation, slerp for rotation).
Dynamic edges are looked up strictly inside their recorded time span, plus `tolerance`
seconds at either end: no extrapolation.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

import numpy as np
from scipy.spatial.transform import Rotation, Slerp


class TransformError(LookupError):
    """A transform that cannot be looked up (unknown frame, no path, or out of time range)."""


class TransformBuffer:
    """Edges parent -> child holding the pose (4x4) of the child frame in the parent frame."""

    def __init__(self, tolerance: float = 0.0) -> None:
        self.tolerance = tolerance
        self._parent: dict[str, str] = {}
        self._frames: set[str] = set()
        self._static: dict[str, np.ndarray] = {}
        self._times: dict[str, list[float]] = defaultdict(list)
        self._poses: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, parent: str, child: str, stamp: float, pose: np.ndarray, static: bool) -> None:
        """Add one transform; a frame has one parent (tf2's rule), re-parenting is an error."""
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
            raise TransformError(f"transform {parent} -> {child} is not a finite 4x4 pose")
        if self._parent.setdefault(child, parent) != parent:
            raise TransformError(
                f"frame '{child}' already has parent '{self._parent[child]}', not '{parent}'"
            )
        self._frames.update((parent, child))
        if static:
            self._static[child] = pose
            return
        times, poses = self._times[child], self._poses[child]
        index = bisect.bisect_left(times, stamp)
        if index < len(times) and times[index] == stamp:
            poses[index] = pose
        else:
            times.insert(index, stamp)
            poses.insert(index, pose)

    def frames(self) -> set[str]:
        return set(self._frames)

    def is_static(self, frame: str) -> bool:
        """Whether every edge from `frame` up to its tree's root is static (its pose in any
        frame of the tree is then the same at all times); False for an unknown frame."""
        if frame not in self._frames:
            return False
        while frame in self._parent:
            if frame not in self._static:
                return False
            frame = self._parent[frame]
        return True

    def lookup(self, target: str, source: str, stamp: float) -> np.ndarray:
        """The pose of frame `source` in frame `target` at `stamp` (like tf2's lookup)."""
        target_chain, source_chain = self._to_root(target, stamp), self._to_root(source, stamp)
        if target_chain[1] != source_chain[1]:
            raise TransformError(f"frames '{target}' and '{source}' are not in one tree")
        inverse = np.eye(4)  # of the rigid target pose: R^T, -R^T t
        rotation, translation = target_chain[0][:3, :3], target_chain[0][:3, 3]
        inverse[:3, :3] = rotation.T
        inverse[:3, 3] = -rotation.T @ translation
        return inverse @ source_chain[0]

    def _to_root(self, frame: str, stamp: float) -> tuple[np.ndarray, str]:
        if frame not in self._frames:
            raise TransformError(f"unknown frame '{frame}'")
        pose = None
        while frame in self._parent:
            edge = self._edge(frame, stamp)
            pose = edge if pose is None else edge @ pose
            frame = self._parent[frame]
        return (np.eye(4) if pose is None else pose), frame

    def _edge(self, child: str, stamp: float) -> np.ndarray:
        if child in self._static:
            return self._static[child]
        times, poses = self._times[child], self._poses[child]
        if stamp < times[0] - self.tolerance or stamp > times[-1] + self.tolerance:
            raise TransformError(
                f"{self._parent[child]} -> {child} is known from {times[0]:.3f} to "
                f"{times[-1]:.3f} s, not at {stamp:.3f} s"
            )
        index = bisect.bisect_left(times, stamp)
        if index == 0 or index == len(times):
            return poses[min(index, len(times) - 1)]
        t0, t1 = times[index - 1], times[index]
        if t1 == stamp:
            return poses[index]
        weight = (stamp - t0) / (t1 - t0)
        pose = np.eye(4)
        pose[:3, 3] = (1 - weight) * poses[index - 1][:3, 3] + weight * poses[index][:3, 3]
        rotations = Rotation.from_matrix([poses[index - 1][:3, :3], poses[index][:3, :3]])
        pose[:3, :3] = Slerp([0.0, 1.0], rotations)(weight).as_matrix()
        return pose
