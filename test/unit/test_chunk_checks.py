"""Chunks no controller should follow are named and refused as a whole."""

from __future__ import annotations

import numpy as np

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.chunk_checks import chunk_problem

START = np.array([0.5, 0.0, 0.3])
QUATERNION = np.array([1.0, 0.0, 0.0, 0.0])


def _chunk(positions, gripper=None, valid=None) -> ActionChunk:
    positions = np.asarray(positions, dtype=float)
    steps = len(positions)
    chunk = ActionChunk.from_poses(
        positions,
        np.tile(QUATERNION, (steps, 1)),
        np.ones(steps) if gripper is None else np.asarray(gripper, float),
        0.1,
    )
    if valid is None:
        return chunk
    return ActionChunk(
        chunk.positions,
        chunk.quaternions,
        chunk.gripper_openness,
        chunk.times,
        chunk.confidence,
        np.asarray(valid),
    )


def test_a_smooth_chunk_passes() -> None:
    path = START + np.linspace(0.01, 0.05, 5)[:, None] * [1.0, 0.0, 0.0]
    assert chunk_problem(_chunk(path, [1, 1, 0, 0, 0]), START, 1.0, 1) is None


def test_a_jump_across_the_workspace_is_named() -> None:
    path = np.tile(START, (5, 1))
    path[3] += [0.0, 0.6, 0.0]
    problem = chunk_problem(_chunk(path), START, 1.0, 1)
    assert problem is not None and "step 4" in problem and "max_tcp_speed" in problem


def test_the_first_step_is_judged_from_the_start_pose() -> None:
    path = np.tile(START + [0.3, 0.0, 0.0], (3, 1))  # 0.3 m in the first 0.1 s
    assert "3.00 m/s" in chunk_problem(_chunk(path), START, 1.0, 1)


def test_a_flickering_gripper_is_refused_one_switch_is_not() -> None:
    path = np.tile(START, (6, 1))
    assert chunk_problem(_chunk(path, [1, 1, 1, 0, 0, 0]), START, 1.0, 1) is None
    problem = chunk_problem(_chunk(path, [0, 1, 0, 1, 0, 1]), START, 1.0, 1)
    assert problem is not None and "5 times" in problem


def test_invalid_steps_do_not_count_and_no_valid_step_is_refused() -> None:
    path = np.tile(START, (4, 1))
    path[1] += [0.0, 0.6, 0.0]  # a jump, but at an invalid step
    assert chunk_problem(_chunk(path, valid=[True, False, True, True]), START, 1.0, 1) is None
    assert "no valid step" in chunk_problem(_chunk(path, valid=[False] * 4), START, 1.0, 1)
