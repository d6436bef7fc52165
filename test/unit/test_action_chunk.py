from __future__ import annotations

import numpy as np
import pytest

from action_images_ros.core.action_chunk import ActionChunk, ActionChunkError


def _chunk(**overrides: object) -> ActionChunk:
    steps = 3
    fields = dict(
        positions=np.zeros((steps, 3)),
        quaternions=np.tile([0.0, 0.0, 0.0, 1.0], (steps, 1)),
        gripper_openness=np.array([1.0, 0.5, 0.0]),
        times=np.array([0.1, 0.2, 0.3]),
        confidence=np.ones(steps),
        valid=np.ones(steps, dtype=bool),
    )
    fields.update(overrides)
    return ActionChunk(**fields)


def test_valid_chunk_keeps_values_as_float64() -> None:
    chunk = _chunk(positions=np.arange(9, dtype=np.float32).reshape(3, 3))
    assert len(chunk) == 3
    assert chunk.positions.dtype == np.float64
    np.testing.assert_array_equal(chunk.positions[2], [6, 7, 8])


def test_from_poses_spaces_steps_evenly() -> None:
    chunk = ActionChunk.from_poses(
        np.zeros((4, 3)), np.tile([0, 0, 0, 1.0], (4, 1)), np.ones(4), step_seconds=0.25
    )
    np.testing.assert_allclose(chunk.times, [0.25, 0.5, 0.75, 1.0])
    assert chunk.valid.all() and (chunk.confidence == 1).all()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"positions": np.zeros((3, 2))}, "positions has shape"),
        ({"quaternions": np.zeros((2, 4))}, "quaternions has shape"),
        ({"positions": np.full((3, 3), np.nan)}, "positions contains non-finite"),
        ({"quaternions": np.tile([0, 0, 0, 2.0], (3, 1))}, "unit length"),
        ({"gripper_openness": np.array([1.0, 1.5, 0.0])}, "gripper_openness must lie"),
        ({"confidence": np.array([1.0, -0.1, 0.0])}, "confidence must lie"),
        ({"times": np.array([0.1, 0.1, 0.3])}, "strictly increasing"),
        ({"valid": np.ones(3)}, "valid must be a bool array"),
        (
            {
                "positions": np.zeros((0, 3)),
                "quaternions": np.zeros((0, 4)),
                "gripper_openness": np.zeros(0),
                "times": np.zeros(0),
                "confidence": np.zeros(0),
                "valid": np.zeros(0, dtype=bool),
            },
            "at least one step",
        ),
    ],
)
def test_malformed_chunks_are_rejected_naming_the_problem(overrides, message) -> None:
    with pytest.raises(ActionChunkError, match=message):
        _chunk(**overrides)
