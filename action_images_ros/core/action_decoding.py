"""Decode action images back into 7-DoF actions with a confidence per timestep (torch).

Ours: per channel and view, a sub-pixel peak (argmax of block averages of the signal, then the
centroid of the part above a threshold inside a window of 2 sigma around it: unbiased for the
symmetric blob, robust to noise, blur and 8-bit quantisation), a confidence per view (peak
height, window cut by the image border), weighted multi-view triangulation (DLT + Gauss-Newton),
the rotation from the three points projected onto the nearest proper rotation, and the gripper
from the blue background. A timestep with a keypoint seen usably in fewer than two views is
flagged invalid (optionally filled by interpolation, still flagged).

The published decoder (`depth_search_decode`) is kept as a baseline: full-image heatmap
centroids and a search along the first view's ray over sampled depths.
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch
import torch.nn.functional as F

from action_images_ros.core.action_images import ActionImageConfig, check_image_size
from action_images_ros.core.cameras import CameraRig
from action_images_ros.core.rotations import nearest_rotation_torch

THRESHOLD = 0.3  # blob values above this (the paper's blue cut is 0.25) form the peak


@dataclass(frozen=True)
class DecoderConfig:
    """Attributes:
    min_view_confidence: views below this confidence get no weight for a keypoint.
    window_sigmas: half-width of the centroid window, in blob sigmas.
    interpolate_invalid: fill invalid steps from valid neighbours (they stay flagged).
    """

    min_view_confidence: float = 0.2
    window_sigmas: float = 2.0
    interpolate_invalid: bool = False


@dataclass(frozen=True)
class DecodedActions:
    positions: torch.Tensor  # (T, 3)
    rotations: torch.Tensor  # (T, 3, 3)
    gripper: torch.Tensor  # (T,)
    confidence: torch.Tensor  # (T,) in [0, 1], 0 where invalid
    valid: torch.Tensor  # (T,) bool
    interpolated: torch.Tensor  # (T,) bool: filled in from neighbours, not decoded
    view_confidence: torch.Tensor  # (T, V, 3)
    reprojection_error: torch.Tensor  # (T,) pixels, worst keypoint


def _signal(images: torch.Tensor, config: ActionImageConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel blob maps (T, V, 3, H, W) with the blue background removed, and the blue
    background level per image (T, V) (the median of a 4x-strided subsample: the background
    covers most of the image)."""
    dtype = torch.float32 if images.dtype == torch.uint8 else images.dtype
    # A copy, always: the caller's images are never modified.
    maps = images.permute(0, 1, 4, 2, 3).to(dtype, memory_format=torch.contiguous_format, copy=True)
    if images.dtype == torch.uint8:
        maps /= 255.0
    blue = maps[:, :, 2]
    background = blue[..., ::4, ::4].flatten(-2).median(-1).values
    blue.masked_fill_(blue <= config.background + 0.02, 0.0)
    return maps, background


def locate_peaks(
    maps: torch.Tensor, sigma: float, config: DecoderConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel peaks (..., 2) as (u, v) and their confidence (...) of maps (..., H, W)."""
    height, width = maps.shape[-2:]
    # The argmax on block averages (blocks of about sigma / 3): cheap, and averaging beats noise.
    block = max(1, round(sigma / 3))
    coarse = F.avg_pool2d(maps.reshape(-1, 1, height, width), block, ceil_mode=True)
    coarse = coarse.reshape(*maps.shape[:-2], -1)
    flat_index = coarse.argmax(-1)
    coarse_width = -(-width // block)
    peak_v = ((flat_index // coarse_width) * block + (block - 1) / 2).to(maps.dtype)
    peak_u = ((flat_index % coarse_width) * block + (block - 1) / 2).to(maps.dtype)
    peak = coarse.max(-1).values
    # The centroid of the part above THRESHOLD in a (2R+1)^2 window around the peak, gathered
    # from the full maps (only the windows are touched).
    radius = config.window_sigmas * sigma
    reach = int(radius)
    offsets = torch.arange(-reach, reach + 1, device=maps.device)
    rows = peak_v.round().long()[..., None] + offsets  # (..., P)
    columns = peak_u.round().long()[..., None] + offsets
    index = (
        rows.clamp(0, height - 1)[..., :, None] * width + columns.clamp(0, width - 1)[..., None, :]
    )
    patch = torch.gather(maps.flatten(-2), -1, index.flatten(-2)).reshape(index.shape)
    in_rows = (rows >= 0) & (rows < height)
    in_columns = (columns >= 0) & (columns < width)
    weights = (patch - THRESHOLD).clamp_min(0) * (in_rows[..., :, None] & in_columns[..., None, :])
    mass = weights.sum((-1, -2)).clamp_min(1e-12)
    u = (weights.sum(-2) * columns.to(maps.dtype)).sum(-1) / mass
    v = (weights.sum(-1) * rows.to(maps.dtype)).sum(-1) / mass
    inside = (in_rows.sum(-1) * in_columns.sum(-1)) / (2 * reach + 1) ** 2
    confidence = ((peak - THRESHOLD) / (0.9 - THRESHOLD)).clamp(0, 1) * inside.clamp(0, 1) ** 4
    return torch.stack([u, v], -1), confidence


def decode(
    images: torch.Tensor,
    rig: CameraRig,
    image_config: ActionImageConfig | None = None,
    config: DecoderConfig | None = None,
) -> DecodedActions:
    """Decode action images (T, V, H, W, 3), float in [0, 1] or uint8, drawn for `rig`."""
    image_config, config = image_config or ActionImageConfig.paper(), config or DecoderConfig()
    rig.require_triangulable()
    check_image_size(rig, images)
    if images.is_floating_point() and not torch.isfinite(images).all():
        raise ValueError("action images contain non-finite values")
    images = images.to(rig.device)
    maps, background = _signal(images, image_config)
    sigma = image_config.sigma(rig.width, rig.height)
    pixels, view_confidence = locate_peaks(maps, sigma, config)  # (T, V, 3, 2), (T, V, 3)
    weights = torch.where(
        view_confidence >= config.min_view_confidence,
        view_confidence,
        torch.zeros_like(view_confidence),
    ).to(rig.intrinsics.dtype)
    points, rms = rig.triangulate(
        pixels.transpose(1, 2).to(rig.intrinsics.dtype), weights.transpose(1, 2)
    )  # (T, 3, 3), (T, 3)
    valid = torch.isfinite(points).all(-1).all(-1)
    safe = torch.where(valid[:, None, None], points, torch.zeros_like(points))
    position, normal, up = safe.unbind(1)
    x_axis = F.normalize(normal - position, dim=-1)
    z_axis = -F.normalize(up - position, dim=-1)
    frame = torch.stack([x_axis, torch.linalg.cross(z_axis, x_axis), z_axis], -1)
    rotations = nearest_rotation_torch(frame)
    level = background.mean(1) / image_config.background
    if image_config.gripper_encoding == "binary":
        gripper = (level > 0.5).to(points.dtype)
    else:
        gripper = level.clamp(0, 1).to(points.dtype)
    offset = image_config.offset
    lengths = torch.stack([(normal - position).norm(dim=-1), (up - position).norm(dim=-1)], -1)
    consistency = torch.exp(-(((lengths - offset) / (0.2 * offset)) ** 2)).min(-1).values
    support = weights.topk(2, dim=1).values.mean(1).min(-1).values  # 2 best views, worst point
    worst = rms.nan_to_num(float("inf")).max(-1).values
    confidence = support * consistency * torch.exp(-((worst / (0.1 * sigma)) ** 2))
    confidence = torch.where(valid, confidence.clamp(0, 1), torch.zeros_like(confidence))
    decoded = DecodedActions(
        positions=position,
        rotations=rotations,
        gripper=gripper,
        confidence=confidence,
        valid=valid,
        interpolated=torch.zeros_like(valid),
        view_confidence=view_confidence,
        reprojection_error=worst,
    )
    return _interpolate(decoded) if config.interpolate_invalid else decoded


def _interpolate(decoded: DecodedActions) -> DecodedActions:
    """Fill invalid steps between (or beyond) valid ones; they stay invalid, marked interpolated."""
    valid = decoded.valid
    if valid.all() or not valid.any():
        return decoded
    steps = torch.arange(len(valid), device=valid.device)
    known = steps[valid]
    positions, rotations = decoded.positions.clone(), decoded.rotations.clone()
    for step in steps[~valid].tolist():
        after = known[known > step]
        before = known[known < step]
        if len(before) == 0 or len(after) == 0:
            source = int(after[0] if len(before) == 0 else before[-1])
            positions[step], rotations[step] = decoded.positions[source], decoded.rotations[source]
            continue
        a, b = int(before[-1]), int(after[0])
        weight = torch.tensor((step - a) / (b - a), dtype=positions.dtype, device=positions.device)
        positions[step] = torch.lerp(decoded.positions[a], decoded.positions[b], weight)
        rotations[step] = roma.rotmat_slerp(decoded.rotations[a], decoded.rotations[b], weight)
    return DecodedActions(
        positions,
        rotations,
        decoded.gripper,
        decoded.confidence,
        valid,
        ~valid,
        decoded.view_confidence,
        decoded.reprojection_error,
    )


def depth_search_decode(
    images: torch.Tensor,
    rig: CameraRig,
    samples: int = 64,
    near: float = 0.1,
    far: float = 5.0,
    image_config: ActionImageConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The published decoder, from its description: positions (T, 3), rotations (T, 3, 3) and
    gripper (T,). Full-image heatmap-weighted centroids per channel and view; along the first
    view's ray through each centroid, `samples` depths in [near, far] are projected into all
    views, scored by the product of bilinear heatmap values, and the best depth is kept."""
    image_config = image_config or ActionImageConfig.paper()
    rig.require_triangulable()
    check_image_size(rig, images)
    images = images.to(rig.device)
    maps, background = _signal(images, image_config)
    dtype = rig.intrinsics.dtype
    maps = maps.to(dtype)
    height, width = maps.shape[-2:]
    columns = torch.arange(width, dtype=dtype, device=rig.device)
    rows = torch.arange(height, dtype=dtype, device=rig.device)
    mass = maps.sum((-1, -2)).clamp_min(1e-12)
    centroid = torch.stack(
        [(maps.sum(-2) * columns).sum(-1) / mass, (maps.sum(-1) * rows).sum(-1) / mass], -1
    )  # (T, V, 3, 2)
    origins, directions = rig.rays(centroid.transpose(1, 2))  # (V, 3), (T, 3, V, 3)
    depths = torch.linspace(near, far, samples, dtype=dtype, device=rig.device)
    candidates = origins[0] + depths[:, None, None, None] * directions[None, :, :, 0]  # (S,T,3,3)
    pixels, _ = rig.project(candidates)  # (S, T, 3, V, 2)
    grid = torch.stack(
        [2 * pixels[..., 0] / (width - 1) - 1, 2 * pixels[..., 1] / (height - 1) - 1], -1
    )  # (S, T, 3, V, 2)
    steps, views = maps.shape[0], maps.shape[1]
    flat_maps = maps.permute(0, 2, 1, 3, 4).reshape(steps * 3 * views, 1, height, width)
    flat_grid = grid.permute(1, 2, 3, 0, 4).reshape(steps * 3 * views, samples, 1, 2)
    values = F.grid_sample(flat_maps, flat_grid, align_corners=True).reshape(
        steps, 3, views, samples
    )
    best = values.clamp_min(1e-12).log().sum(2).argmax(-1)  # (T, 3)
    chosen = torch.gather(
        candidates.permute(1, 2, 0, 3), 2, best[..., None, None].expand(-1, -1, 1, 3)
    )
    position, normal, up = chosen[:, :, 0].unbind(1)
    x_axis = F.normalize(normal - position, dim=-1)
    z_axis = F.normalize(
        position - up - (position - up).mul(x_axis).sum(-1, keepdim=True) * x_axis, dim=-1
    )
    rotations = torch.stack([x_axis, torch.linalg.cross(z_axis, x_axis), z_axis], -1)
    gripper = (background.mean(1) > image_config.background / 2).to(dtype)
    return position, rotations, gripper
