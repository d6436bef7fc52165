"""Draw 7-DoF end-effector actions as action images, one per view and timestep (torch).

An action is a position p (3,), a rotation R (3x3, base frame) and a gripper openness in
[0, 1]. Three keypoints are drawn as Gaussian blobs: red = p, green = the "normal" point
p + d * R[:, 0], blue = the "up" point p + d * R @ [0, 0, -1]. The gripper goes into the blue
channel's background. The `paper` preset reproduces the published drawing exactly: d = 0.1 m,
sigma = 0.05 * min(H, W), peak 1.0 at integer pixel centres, and where blue <= 0.25 it becomes
0.25 for an open gripper (openness > 0.5) and 0 for a closed one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from action_images_ros.core.cameras import CameraError, CameraRig
from action_images_ros.core.rotations import euler_to_matrix


@dataclass(frozen=True)
class ActionImageConfig:
    """How actions are drawn.

    Attributes:
        offset: metres from p to the normal and up keypoints.
        sigma_fraction: Gaussian sigma as a fraction of min(H, W).
        background: blue background level of a fully open gripper.
        gripper_encoding: 'binary' (the paper: open above 0.5) or 'continuous' (background
            scales with openness, so openness decodes back as a number).
    """

    offset: float = 0.1
    sigma_fraction: float = 0.05
    background: float = 0.25
    gripper_encoding: str = "binary"

    def __post_init__(self) -> None:
        if self.offset <= 0 or not 0 < self.sigma_fraction < 0.5 or not 0 < self.background < 1:
            raise ValueError("need offset > 0, 0 < sigma_fraction < 0.5, 0 < background < 1")
        if self.gripper_encoding not in ("binary", "continuous"):
            raise ValueError(
                f"gripper_encoding must be binary or continuous, got {self.gripper_encoding}"
            )

    @classmethod
    def paper(cls) -> ActionImageConfig:
        """The published drawing."""
        return cls()

    def sigma(self, width: int, height: int) -> float:
        return self.sigma_fraction * min(width, height)


@dataclass(frozen=True)
class ActionImages:
    """Encoded actions: images (T, V, H, W, 3) in [0, 1], and per keypoint and view whether it
    was drawn where it belongs (in front of the camera and inside the image): (T, V, 3)."""

    images: torch.Tensor
    visible: torch.Tensor

    def to_uint8(self) -> torch.Tensor:
        return (self.images * 255).round().clamp(0, 255).to(torch.uint8)


def keypoints(positions: torch.Tensor, rotations: torch.Tensor, offset: float) -> torch.Tensor:
    """(T, 3) positions and (T, 3, 3) rotations to (T, 3 keypoints, 3): p, normal, up."""
    normal = positions + offset * rotations[..., :, 0]
    up = positions - offset * rotations[..., :, 2]
    return torch.stack([positions, normal, up], dim=-2)


def encode(
    positions: torch.Tensor,
    rotations: torch.Tensor,
    gripper: torch.Tensor,
    rig: CameraRig,
    config: ActionImageConfig | None = None,
) -> ActionImages:
    """Draw T actions into every view of `rig` (on the rig's device and dtype)."""
    config = config or ActionImageConfig.paper()
    dtype, device = rig.intrinsics.dtype, rig.device
    positions = torch.as_tensor(positions, dtype=dtype, device=device)
    rotations = torch.as_tensor(rotations, dtype=dtype, device=device)
    gripper = torch.as_tensor(gripper, dtype=dtype, device=device)
    steps = positions.shape[0] if positions.ndim == 2 else -1
    if (
        positions.shape != (steps, 3)
        or rotations.shape != (steps, 3, 3)
        or gripper.shape != (steps,)
    ):
        raise ValueError(
            "need positions (T, 3), rotations (T, 3, 3), gripper (T,); got "
            f"{tuple(positions.shape)}, {tuple(rotations.shape)}, {tuple(gripper.shape)}"
        )
    for name, value in (("positions", positions), ("rotations", rotations), ("gripper", gripper)):
        if not torch.isfinite(value).all():
            raise ValueError(f"{name} contains non-finite values")
    if ((gripper < 0) | (gripper > 1)).any():
        raise ValueError("gripper openness must lie in [0, 1]")
    pixels, depth = rig.project(keypoints(positions, rotations, config.offset))  # (T, 3, V, ..)
    visible = rig.inside(pixels, depth).transpose(1, 2)  # (T, V, 3)
    sigma = config.sigma(rig.width, rig.height)
    rows = torch.arange(rig.height, dtype=dtype, device=device)
    columns = torch.arange(rig.width, dtype=dtype, device=device)
    u = pixels[..., 0].transpose(1, 2)[..., None]  # (T, V, 3, 1)
    v = pixels[..., 1].transpose(1, 2)[..., None]
    # exp(-(du^2 + dv^2) / 2 sigma^2) as the outer product of two 1-D Gaussians.
    across = torch.exp(-((columns - u) ** 2) / (2 * sigma**2))  # (T, V, 3, W)
    down = torch.exp(-((rows - v) ** 2) / (2 * sigma**2))  # (T, V, 3, H)
    blobs = down[..., :, None] * across[..., None, :]
    in_front = (depth.transpose(1, 2) > 0)[..., None, None]
    blobs = torch.where(in_front, blobs, torch.zeros_like(blobs))  # never draw behind a camera
    if config.gripper_encoding == "binary":
        level = torch.where(gripper > 0.5, config.background, 0.0)
    else:
        level = gripper * config.background
    level = level[:, None, None, None].to(dtype)
    blue = blobs[:, :, 2]
    blobs[:, :, 2] = torch.where(blue <= config.background, level.expand_as(blue), blue)
    return ActionImages(blobs.permute(0, 1, 3, 4, 2).contiguous(), visible)


def actions_from_paper_format(actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The published [x, y, z, euler_x, euler_y, euler_z, openness] (extrinsic x-y-z Euler, R =
    Rz Ry Rx, scipy 'xyz') to positions (T, 3), rotations (T, 3, 3) and openness (T,)."""
    actions = np.asarray(actions, dtype=np.float64)
    if actions.ndim != 2 or actions.shape[1] != 7:
        raise ValueError(f"paper-format actions must be (T, 7), got {actions.shape}")
    return actions[:, :3], euler_to_matrix(actions[:, 3:6]), actions[:, 6]


def check_image_size(rig: CameraRig, images: torch.Tensor) -> None:
    """Refuse action images whose size or view count does not match the rig."""
    if images.ndim != 5 or images.shape[-1] != 3:
        raise ValueError(f"action images must be (T, V, H, W, 3), got {tuple(images.shape)}")
    _, views, height, width, _ = images.shape
    if views != rig.views or (width, height) != (rig.width, rig.height):
        raise CameraError(
            f"images are {views} views of {width}x{height}, the rig has {rig.views} views of "
            f"{rig.width}x{rig.height}"
        )
