"""Receding-horizon execution of action chunks: a time-indexed queue that merges new chunks.

The published model runs open loop: predict a chunk, execute it, predict again, so the arm waits
during inference and may jump at chunk boundaries. Here the next chunk is computed while the
current one executes, and merging it into the queue
- drops steps already in the past (the time inference took) and steps decoded as invalid;
- keeps the current motion where the new chunk starts, and crossfades from the old plan to the
  new one over `blend_time` seconds (positions linearly, orientations by slerp, gripper
  linearly); `blend_time = 0` replaces the old plan outright;
- lets the new plan win after the crossfade (the old plan's later steps are dropped).
With `merge="inpaint"` (real-time chunking, RTC arXiv 2506.07339) the policy was given the
steps of the plan that execute while it runs (`ActionQueue.given_actions`) and continued from
them, so the new chunk replaces the plan outright: it already agrees with what is executing.
The crossfade stays the way for policies that cannot take given actions.
Times are absolute seconds on the robot's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from action_images_ros.core.action_chunk import ActionChunk

MERGE_MODES = ("crossfade", "inpaint")


@dataclass(frozen=True)
class ExecutionConfig:
    """How chunks are merged and when the next one is asked for.

    Attributes:
        blend_time: crossfade duration from the old plan to the new one (0 = replace).
        replan_margin: ask for the next chunk when less than this many seconds would remain
            queued at its arrival (the inference latency later, see needs_new_chunk).
        merge: "crossfade" (blend a new chunk into the plan over `blend_time`) or "inpaint"
            (the chunk continued from the given steps: it replaces the plan).
        late_delay: a chunk all of whose steps are due by the time it arrives (inference slower
            than the chunk) is shifted so that its last valid target is due one step interval
            plus this many seconds after arrival (its end is executed, late) rather than
            dropped (with slow inference the arm would otherwise never move); None drops it.
    """

    blend_time: float = 0.3
    replan_margin: float = 0.6
    merge: str = "crossfade"
    late_delay: float | None = None

    def __post_init__(self) -> None:
        if self.blend_time < 0 or self.replan_margin < 0:
            raise ValueError("blend_time and replan_margin must be non-negative")
        if self.late_delay is not None and self.late_delay < 0:
            raise ValueError(f"late_delay must be non-negative or None, got {self.late_delay}")
        if self.merge not in MERGE_MODES:
            raise ValueError(f"merge must be one of {', '.join(MERGE_MODES)}, got {self.merge!r}")


@dataclass(frozen=True)
class PlannedSteps:
    """End-effector targets due at absolute `times`."""

    times: np.ndarray  # (N,)
    positions: np.ndarray  # (N, 3)
    quaternions: np.ndarray  # (N, 4) x, y, z, w
    gripper: np.ndarray  # (N,)

    def __len__(self) -> int:
        return len(self.times)

    def select(self, mask: np.ndarray) -> PlannedSteps:
        return PlannedSteps(
            self.times[mask], self.positions[mask], self.quaternions[mask], self.gripper[mask]
        )

    def at(self, times: np.ndarray) -> PlannedSteps:
        """The plan interpolated at `times` (clamped to its first and last step)."""
        times = np.clip(times, self.times[0], self.times[-1])
        if len(self) == 1:
            repeat = np.zeros(len(times), dtype=int)
            return PlannedSteps(
                times, self.positions[repeat], self.quaternions[repeat], self.gripper[repeat]
            )
        positions = np.stack(
            [np.interp(times, self.times, self.positions[:, i]) for i in range(3)], axis=1
        )
        slerp = Slerp(self.times, Rotation.from_quat(self.quaternions))
        gripper = np.interp(times, self.times, self.gripper)
        return PlannedSteps(times, positions, slerp(times).as_quat(), gripper)


class ActionQueue:
    """The end-effector plan being executed, merged with every new chunk."""

    def __init__(self, config: ExecutionConfig | None = None) -> None:
        self.config = config or ExecutionConfig()
        self.plan: PlannedSteps | None = None
        self.late_chunks = 0  # chunks kept as their last target (see ExecutionConfig.late_delay)

    def merge(self, chunk: ActionChunk, start_time: float, now: float) -> int:
        """Merge a chunk whose `times` are relative to `start_time`; returns the steps kept.

        Steps due at or before `now` and invalid steps are dropped; a chunk left with none is
        kept as its last target where `late_delay` says so.
        """
        new = PlannedSteps(
            start_time + chunk.times, chunk.positions, chunk.quaternions, chunk.gripper_openness
        ).select(chunk.valid & (start_time + chunk.times > now))
        if len(new) == 0:
            valid = np.flatnonzero(chunk.valid)
            if self.config.late_delay is None or len(valid) == 0:
                return 0
            times = chunk.times[valid]
            interval = float(np.median(np.diff(times))) if len(times) > 1 else float(times[0])
            due = now + interval + self.config.late_delay
            self.late_chunks += 1
            # Shifted so that its last valid step falls at `due`: only its end is still ahead.
            return self.merge(chunk, due - float(times[-1]), now)
        old = self.upcoming(now)
        if old is not None and self.config.merge == "crossfade" and self.config.blend_time > 0:
            weight = np.clip((new.times - new.times[0]) / self.config.blend_time, 0.0, 1.0)
            inside = new.times <= old.times[-1]
            weight = np.where(inside, weight, 1.0)
            previous = old.at(new.times)
            positions = (1 - weight[:, None]) * previous.positions + weight[:, None] * new.positions
            quaternions = np.stack(
                [
                    Slerp([0.0, 1.0], Rotation.from_quat([q0, q1]))(w).as_quat()
                    for q0, q1, w in zip(previous.quaternions, new.quaternions, weight, strict=True)
                ]
            )
            gripper = (1 - weight) * previous.gripper + weight * new.gripper
            new = PlannedSteps(new.times, positions, quaternions, gripper)
        self.plan = new
        return len(new)

    def given_actions(self, start_time: float, until: float, interval: float) -> ActionChunk | None:
        """The plan at `start_time + k * interval` (k = 1, 2, ...) up to `until` and within the
        plan, with times relative to `start_time`: the steps that will have been executed when a
        chunk asked for now arrives (at `until`), for a policy to continue from. None if there
        are none."""
        if self.plan is None or interval <= 0:
            return None
        last = min(until, float(self.plan.times[-1]))
        count = int(np.floor((last - start_time) / interval + 1e-9))
        if count < 1:
            return None
        due = start_time + interval * np.arange(1, count + 1)
        steps = self.plan.at(due)
        ones = np.ones(count)
        return ActionChunk(
            steps.positions,
            steps.quaternions,
            steps.gripper,
            due - start_time,
            ones,
            ones.astype(bool),
        )

    def upcoming(self, now: float) -> PlannedSteps | None:
        """The steps still ahead of `now`, or None when nothing is queued."""
        if self.plan is None:
            return None
        ahead = self.plan.select(self.plan.times > now)
        return ahead if len(ahead) else None

    def remaining(self, now: float) -> float:
        """Seconds of plan left after `now`."""
        ahead = self.upcoming(now)
        return 0.0 if ahead is None else float(ahead.times[-1] - now)

    def needs_new_chunk(self, now: float, latency: float = 0.0) -> bool:
        """Whether to start the next inference: less than `replan_margin` would remain queued
        when a chunk asked for now arrives, `latency` seconds later."""
        return self.remaining(now) < self.config.replan_margin + latency

    def clear(self) -> None:
        self.plan = None
