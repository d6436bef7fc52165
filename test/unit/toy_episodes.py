"""Toy training episodes shared by the model tests: two views, random frames, a line path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from action_images_ros.data.episode import Episode, write_episode


def write_toy_episodes(directory: Path, count: int = 2, steps: int = 8) -> Path:
    rng = np.random.default_rng(0)
    k = np.array([[40.0, 0, 23.5], [0, 40.0, 23.5], [0, 0, 1]])
    poses = np.stack([np.eye(4), np.eye(4)])
    poses[1, :3, 3] = [0.3, 0.0, 0.0]
    for index in range(count):
        positions = np.column_stack(
            [np.linspace(-0.1, 0.1, steps), np.zeros(steps), np.ones(steps)]
        )
        write_episode(directory / f"ep{index}", Episode(
            cameras=["a", "b"], fps=5.0, intrinsics=np.stack([k, k]), extrinsics=poses,
            rgb=rng.integers(0, 256, (steps, 2, 48, 48, 3), dtype=np.uint8),
            action_images=np.zeros((steps, 2, 48, 48, 3), np.uint8),
            timestamps=np.arange(steps) / 5.0, positions=positions,
            quaternions=np.tile([0, 0, 0, 1.0], (steps, 1)), gripper=np.ones(steps),
            meta={"task": ["reach", "pick"][index % 2]},
        ))  # fmt: skip
    return directory
