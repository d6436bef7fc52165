from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from action_images_ros.core.transforms import TransformBuffer, TransformError


def _pose(translation, rotvec=(0.0, 0.0, 0.0)) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    pose[:3, 3] = translation
    return pose


def _buffer() -> TransformBuffer:
    buffer = TransformBuffer()
    buffer.add("base", "camera", 0.0, _pose([1.0, 0.0, 0.5], [0, 0, np.pi / 2]), static=True)
    buffer.add("base", "hand", 1.0, _pose([0.4, 0.0, 0.3]), static=False)
    buffer.add("base", "hand", 2.0, _pose([0.6, 0.2, 0.3], [0, 0, 0.4]), static=False)
    buffer.add("hand", "tcp", 0.0, _pose([0.0, 0.0, 0.1]), static=True)
    return buffer


def test_chained_and_interpolated_lookup() -> None:
    buffer = _buffer()
    tcp_in_base = buffer.lookup("base", "tcp", 1.5)
    hand = _pose([0.5, 0.1, 0.3], [0, 0, 0.2])  # halfway, slerped
    np.testing.assert_allclose(tcp_in_base, hand @ _pose([0, 0, 0.1]), atol=1e-12)
    camera_to_tcp = buffer.lookup("camera", "tcp", 2.0)
    expected = np.linalg.inv(_pose([1.0, 0, 0.5], [0, 0, np.pi / 2])) @ tcp_in_base
    assert not np.allclose(camera_to_tcp, expected)  # different time
    np.testing.assert_allclose(buffer.lookup("camera", "tcp", 1.5), expected, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(1.0, 2.0))
def test_lookup_inverse_is_consistent(stamp: float) -> None:
    buffer = _buffer()
    forward = buffer.lookup("camera", "tcp", stamp)
    backward = buffer.lookup("tcp", "camera", stamp)
    np.testing.assert_allclose(forward @ backward, np.eye(4), atol=1e-12)


def test_no_extrapolation_unknown_frames_and_other_trees() -> None:
    buffer = _buffer()
    with pytest.raises(TransformError, match="not at 2.500"):
        buffer.lookup("base", "tcp", 2.5)
    with pytest.raises(TransformError, match="unknown frame 'wrist'"):
        buffer.lookup("base", "wrist", 1.0)
    buffer.add("world", "table", 0.0, np.eye(4), static=True)
    with pytest.raises(TransformError, match="not in one tree"):
        buffer.lookup("base", "table", 1.0)
    with pytest.raises(TransformError, match="already has parent"):
        buffer.add("world", "hand", 1.0, np.eye(4), static=False)
    with pytest.raises(TransformError, match="finite 4x4"):
        buffer.add("base", "x", 1.0, np.full((4, 4), np.nan), static=False)


def test_tolerance_allows_small_gaps_at_the_ends() -> None:
    buffer = TransformBuffer(tolerance=0.05)
    buffer.add("base", "hand", 1.0, _pose([0.4, 0, 0]), static=False)
    np.testing.assert_allclose(buffer.lookup("base", "hand", 1.04)[:3, 3], [0.4, 0, 0])
    with pytest.raises(TransformError):
        buffer.lookup("base", "hand", 1.06)


def test_is_static_only_when_every_edge_to_the_root_is() -> None:
    buffer = TransformBuffer()
    buffer.add("base", "mount", 0.0, np.eye(4), static=True)
    buffer.add("mount", "camera", 0.0, np.eye(4), static=True)
    buffer.add("base", "arm", 0.0, np.eye(4), static=False)
    buffer.add("arm", "hand_camera", 0.0, np.eye(4), static=True)
    assert buffer.is_static("camera") and buffer.is_static("base")
    assert not buffer.is_static("hand_camera") and not buffer.is_static("unknown")
