"""What a policy sees and returns: the contract between the ROS shell and any model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from action_images_ros.core.action_chunk import ActionChunk


@dataclass(frozen=True)
class Observation:
    """One synchronized multi-view observation.

    Attributes:
        stamp: seconds on the robot's clock (the oldest frame of the set).
        images: (V, H, W, 3) uint8 RGB, one per view, in the rig's camera order.
        intrinsics: (V, 3, 3) pinhole K per view, for the images' size.
        extrinsics: (V, 4, 4) T_base_camera: each camera's optical frame (z forward, x right,
            y down) in the robot base frame.
        joint_positions: (J,) the arm's joint positions at `stamp`.
        ee_position: (3,) tool centre point in the base frame.
        ee_quaternion: (4,) its orientation (x, y, z, w).
        gripper_openness: 0 closed .. 1 open.
        given_actions: the steps the robot will execute after `stamp` whatever the policy
            returns (those due before its chunk can arrive), with times relative to `stamp`, or
            None. A policy that can take them (`accepts_given_actions`) continues from them
            (real-time chunking) and returns them unchanged as its first steps.
    """

    stamp: float
    images: np.ndarray
    intrinsics: np.ndarray
    extrinsics: np.ndarray
    joint_positions: np.ndarray
    ee_position: np.ndarray
    ee_quaternion: np.ndarray
    gripper_openness: float
    given_actions: ActionChunk | None = None

    def __post_init__(self) -> None:
        views = len(self.images)
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be (V, H, W, 3) uint8, got {self.images.shape}")
        if self.intrinsics.shape != (views, 3, 3) or self.extrinsics.shape != (views, 4, 4):
            raise ValueError(
                f"need ({views}, 3, 3) intrinsics and ({views}, 4, 4) extrinsics, got "
                f"{self.intrinsics.shape} and {self.extrinsics.shape}"
            )


class Policy(Protocol):
    """Anything that turns an observation into a chunk of end-effector actions.

    `times` of the returned chunk are relative to `observation.stamp`. A policy may also have
    `accepts_given_actions` (True: it continues from `observation.given_actions`) and
    `frame_interval` (seconds between its steps, the times the given actions must have).
    """

    def predict(self, observation: Observation) -> ActionChunk: ...
