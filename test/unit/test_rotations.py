"""Rotation conversions, including near gimbal lock, 180 degrees and identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from action_images_ros.core import rotations as r

SINGULAR = [
    np.eye(3),
    np.diag([1.0, -1.0, -1.0]),  # 180 degrees about x (w = 0)
    np.diag([-1.0, -1.0, 1.0]),  # 180 degrees about z
    r.euler_to_matrix(np.array([0.3, np.pi / 2, -0.2])),  # gimbal lock, pitch +90
    r.euler_to_matrix(np.array([0.1, -np.pi / 2 + 1e-9, 0.4])),  # just off gimbal lock
    r.rotvec_to_matrix(np.array([0.0, 0.0, np.pi - 1e-9])),  # just short of 180
]

unit_quaternions = arrays(np.float64, (4,), elements=st.floats(-1, 1)).filter(
    lambda q: np.linalg.norm(q) > 0.1
)


@pytest.mark.parametrize("matrix", SINGULAR)
def test_every_representation_round_trips_at_singularities(matrix: np.ndarray) -> None:
    np.testing.assert_allclose(r.quat_to_matrix(r.matrix_to_quat(matrix)), matrix, atol=1e-9)
    np.testing.assert_allclose(r.euler_to_matrix(r.matrix_to_euler(matrix)), matrix, atol=1e-7)
    np.testing.assert_allclose(r.rotvec_to_matrix(r.matrix_to_rotvec(matrix)), matrix, atol=1e-9)
    np.testing.assert_allclose(r.sixd_to_matrix(r.matrix_to_6d(matrix)), matrix, atol=1e-9)
    torch_matrix = torch.tensor(matrix)
    np.testing.assert_allclose(
        r.quat_to_matrix_torch(r.matrix_to_quat_torch(torch_matrix)).numpy(), matrix, atol=1e-9
    )
    assert r.matrix_to_quat(matrix)[3] >= 0


@settings(max_examples=100, deadline=None)
@given(unit_quaternions)
def test_numpy_and_torch_agree(quat: np.ndarray) -> None:
    quat = quat / np.linalg.norm(quat)
    matrix = r.quat_to_matrix(quat)
    np.testing.assert_allclose(
        r.quat_to_matrix_torch(torch.tensor(quat)).numpy(), matrix, atol=1e-9
    )
    from_torch = r.matrix_to_quat_torch(torch.tensor(matrix)).numpy()
    # q and -q are one rotation; both sides pick w >= 0, which leaves only w = 0 ambiguous.
    assert abs(float(np.dot(from_torch, r.matrix_to_quat(matrix)))) == pytest.approx(1.0)


def test_batched_shapes_and_conventions() -> None:
    angles = np.random.default_rng(0).uniform(-np.pi, np.pi, (4, 5, 3))
    matrices = r.euler_to_matrix(angles)
    assert matrices.shape == (4, 5, 3, 3)
    x, y, z = angles[1, 2]
    rx = r.rotvec_to_matrix(np.array([x, 0, 0]))
    ry = r.rotvec_to_matrix(np.array([0, y, 0]))
    rz = r.rotvec_to_matrix(np.array([0, 0, z]))
    np.testing.assert_allclose(matrices[1, 2], rz @ ry @ rx, atol=1e-12)  # extrinsic x-y-z
    assert r.matrix_to_quat(matrices).shape == (4, 5, 4)


def test_rotation_error_and_nearest_rotation() -> None:
    turn = r.euler_to_matrix(np.array([0.0, 0.0, 0.3]))
    np.testing.assert_allclose(r.rotation_error(turn, np.eye(3)), [0, 0, 0.3], atol=1e-12)
    flip = r.euler_to_matrix(np.array([np.pi, 0.0, 0.0]))
    assert np.linalg.norm(r.rotation_error(flip, np.eye(3))) == pytest.approx(np.pi)
    noisy = torch.tensor(turn) + 0.01 * torch.randn(
        3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    nearest = r.nearest_rotation_torch(noisy)
    torch.testing.assert_close(nearest @ nearest.T, torch.eye(3, dtype=torch.float64))
    assert torch.linalg.det(nearest) == pytest.approx(1.0)
