"""Rotation conversions, vectorised over leading dimensions: scipy for numpy, roma for torch.

Conventions: quaternions are (x, y, z, w) as in geometry_msgs, returned with w >= 0; Euler
angles default to extrinsic x-y-z (R = Rz Ry Rx, scipy "xyz"), which is also URDF's roll-pitch-
yaw and the published Action Images action format; rotation vectors are axis * angle; the 6D
representation is the first two columns of the matrix (Zhou et al.), mapped back by
Gram-Schmidt. torch and roma are imported by the functions that use them, so the numpy
conversions (kinematics, safety, the sim) load neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

if TYPE_CHECKING:
    import torch


def _flat(array: np.ndarray, tail: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    array = np.asarray(array, dtype=np.float64)
    lead = array.shape[: array.ndim - len(tail)]
    return array.reshape(-1, *tail), lead


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) x, y, z, w (normalised here) to matrices (..., 3, 3)."""
    flat, lead = _flat(quat, (4,))
    return Rotation.from_quat(flat).as_matrix().reshape(*lead, 3, 3)


def matrix_to_quat(matrix: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) to unit quaternions (..., 4) x, y, z, w with w >= 0."""
    flat, lead = _flat(matrix, (3, 3))
    quat = Rotation.from_matrix(flat).as_quat(canonical=True)
    return quat.reshape(*lead, 4)


def euler_to_matrix(angles: np.ndarray, convention: str = "xyz") -> np.ndarray:
    """Euler angles (..., 3) in radians (default extrinsic x-y-z) to matrices (..., 3, 3)."""
    flat, lead = _flat(angles, (3,))
    return Rotation.from_euler(convention, flat).as_matrix().reshape(*lead, 3, 3)


def matrix_to_euler(matrix: np.ndarray, convention: str = "xyz") -> np.ndarray:
    """Matrices (..., 3, 3) to Euler angles (..., 3); at gimbal lock the third angle is 0."""
    flat, lead = _flat(matrix, (3, 3))
    import warnings

    with warnings.catch_warnings():  # scipy warns at gimbal lock; the result is still valid
        warnings.simplefilter("ignore", UserWarning)
        angles = Rotation.from_matrix(flat).as_euler(convention)
    return angles.reshape(*lead, 3)


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    flat, lead = _flat(rotvec, (3,))
    return Rotation.from_rotvec(flat).as_matrix().reshape(*lead, 3, 3)


def matrix_to_rotvec(matrix: np.ndarray) -> np.ndarray:
    flat, lead = _flat(matrix, (3, 3))
    return Rotation.from_matrix(flat).as_rotvec().reshape(*lead, 3)


def rotation_error(target: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Rotation vector (..., 3), in the base frame, turning `rotation` onto `target`."""
    return matrix_to_rotvec(np.asarray(target) @ np.swapaxes(np.asarray(rotation), -1, -2))


def matrix_to_6d(matrix: np.ndarray) -> np.ndarray:
    """The first two columns (..., 6) of rotation matrices (..., 3, 3)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return np.concatenate([matrix[..., :, 0], matrix[..., :, 1]], axis=-1)


def sixd_to_matrix(sixd: np.ndarray) -> np.ndarray:
    """6D vectors (..., 6) to the nearest rotation matrices by Gram-Schmidt (roma)."""
    import torch

    sixd = torch.as_tensor(np.asarray(sixd, dtype=np.float64))
    return sixd_to_matrix_torch(sixd).numpy()


def sixd_to_matrix_torch(sixd: torch.Tensor) -> torch.Tensor:
    """Torch version of `sixd_to_matrix`, on any device."""
    import roma
    import torch

    columns = torch.stack([sixd[..., :3], sixd[..., 3:]], dim=-1)
    return roma.special_gramschmidt(columns)


def nearest_rotation_torch(matrix: torch.Tensor) -> torch.Tensor:
    """The nearest proper rotation (..., 3, 3) to any 3x3 matrices (special Procrustes, roma)."""
    import roma

    return roma.special_procrustes(matrix)


def quat_to_matrix_torch(quat: torch.Tensor) -> torch.Tensor:
    """Quaternions (..., 4) x, y, z, w to matrices (roma), on any device."""
    import roma

    return roma.unitquat_to_rotmat(quat / quat.norm(dim=-1, keepdim=True))


def matrix_to_quat_torch(matrix: torch.Tensor) -> torch.Tensor:
    """Matrices (..., 3, 3) to quaternions (..., 4) x, y, z, w with w >= 0 (roma)."""
    import roma
    import torch

    quat = roma.rotmat_to_unitquat(matrix)
    return torch.where(quat[..., 3:] < 0, -quat, quat)
