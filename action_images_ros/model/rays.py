"""Camera conditioning: Plücker rays of every camera at the model's resolution."""

from __future__ import annotations

import torch

from action_images_ros.core.cameras import CameraRig

RAY_CHANNELS = 6  # Plücker rays: direction, moment


def plucker_rays(rig: CameraRig, height: int, width: int) -> torch.Tensor:
    """(V, H, W, 6) rays (unit direction, moment origin x direction) through the centre of every
    cell of an H x W grid over each camera's image (pixels, or a VAE's latent cells), in the
    base frame."""
    scaled = rig.resized(width, height)
    k = scaled.intrinsics
    v, u = torch.meshgrid(
        torch.arange(height, dtype=k.dtype, device=k.device),
        torch.arange(width, dtype=k.dtype, device=k.device),
        indexing="ij",
    )
    pixels = torch.stack([u, v], -1)[:, :, None].expand(height, width, rig.views, 2)
    origins, directions = scaled.rays(pixels)  # (V, 3), (H, W, V, 3)
    moments = torch.linalg.cross(origins.expand_as(directions), directions, dim=-1)
    return torch.cat([directions, moments], -1).permute(2, 0, 1, 3).contiguous()
