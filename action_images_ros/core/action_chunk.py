"""A chunk of 7-DoF end-effector actions: the unit the policy predicts and the robot executes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ActionChunkError(ValueError):
    """An action chunk whose arrays are malformed (shapes, values, timing)."""


@dataclass(frozen=True)
class ActionChunk:
    """T end-effector actions in the robot base frame, with timing and decoder confidence.

    Attributes:
        positions: (T, 3) tool-centre-point positions in metres.
        quaternions: (T, 4) orientations as unit quaternions (x, y, z, w), as in geometry_msgs.
        gripper_openness: (T,) 0 closed .. 1 fully open.
        times: (T,) seconds from the chunk's start at which each step is due, strictly
            increasing.
        confidence: (T,) decoder confidence in [0, 1] (1 for actions that were not decoded).
        valid: (T,) False where a step could not be decoded; never execute such a step.
    """

    positions: np.ndarray
    quaternions: np.ndarray
    gripper_openness: np.ndarray
    times: np.ndarray
    confidence: np.ndarray
    valid: np.ndarray

    def __post_init__(self) -> None:
        fields = {
            "positions": (self.positions, (3,)),
            "quaternions": (self.quaternions, (4,)),
            "gripper_openness": (self.gripper_openness, ()),
            "times": (self.times, ()),
            "confidence": (self.confidence, ()),
        }
        steps = np.shape(self.positions)[0] if np.ndim(self.positions) else -1
        for name, (array, tail) in fields.items():
            array = np.asarray(array, dtype=np.float64)
            if array.shape != (steps, *tail):
                raise ActionChunkError(
                    f"{name} has shape {array.shape}, expected {(steps, *tail)} "
                    f"(T={steps} steps from positions)"
                )
            if not np.all(np.isfinite(array)):
                raise ActionChunkError(f"{name} contains non-finite values")
            object.__setattr__(self, name, array)
        valid = np.asarray(self.valid)
        if valid.shape != (steps,) or valid.dtype != bool:
            raise ActionChunkError(f"valid must be a bool array of shape ({steps},)")
        object.__setattr__(self, "valid", valid)
        if steps == 0:
            raise ActionChunkError("an action chunk needs at least one step")
        norms = np.linalg.norm(self.quaternions, axis=1)
        if np.any(np.abs(norms - 1.0) > 1e-3):
            raise ActionChunkError(f"quaternions must be unit length, got norms {norms}")
        if np.any((self.gripper_openness < 0) | (self.gripper_openness > 1)):
            raise ActionChunkError("gripper_openness must lie in [0, 1]")
        if np.any((self.confidence < 0) | (self.confidence > 1)):
            raise ActionChunkError("confidence must lie in [0, 1]")
        if self.times[0] < 0 or np.any(np.diff(self.times) <= 0):
            raise ActionChunkError("times must be non-negative and strictly increasing")

    def __len__(self) -> int:
        return len(self.positions)

    @classmethod
    def from_poses(
        cls,
        positions: np.ndarray,
        quaternions: np.ndarray,
        gripper_openness: np.ndarray,
        step_seconds: float,
    ) -> ActionChunk:
        """A chunk of fully confident steps, one every `step_seconds` starting after one step."""
        steps = len(positions)
        return cls(
            positions=positions,
            quaternions=quaternions,
            gripper_openness=gripper_openness,
            times=step_seconds * np.arange(1, steps + 1),
            confidence=np.ones(steps),
            valid=np.ones(steps, dtype=bool),
        )
