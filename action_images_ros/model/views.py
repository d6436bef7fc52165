"""Camera views at the model's size: frames resized, camera models resized with them."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from action_images_ros.core.cameras import CameraRig


def resize_views(
    images: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    width: int,
    height: int,
    center_crop: bool = False,
) -> tuple[np.ndarray, CameraRig]:
    """`images` (..., V, H, W, 3) uint8 resized to `width` x `height` (area filter), and the
    float32 rig of the V cameras at that size. With `center_crop` the largest centred crop of
    the target's aspect ratio is taken first (the published preprocessing: no distortion), the
    principal points moved with it."""
    source_height, source_width = images.shape[-3:-1]
    if center_crop:
        crop_width = min(source_width, round(source_height * width / height))
        crop_height = min(source_height, round(source_width * height / width))
        left, top = (source_width - crop_width) // 2, (source_height - crop_height) // 2
        images = images[..., top : top + crop_height, left : left + crop_width, :]
        intrinsics = np.array(intrinsics, dtype=np.float64, copy=True)
        intrinsics[..., 0, 2] -= left
        intrinsics[..., 1, 2] -= top
        source_height, source_width = crop_height, crop_width
    flat = images.reshape(-1, source_height, source_width, 3)
    resized = np.stack(
        [cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA) for image in flat]
    ).reshape(*images.shape[:-3], height, width, 3)
    rig = CameraRig.from_arrays(intrinsics, extrinsics, source_width, source_height)
    return resized, rig.resized(width, height).to("cpu", torch.float32)
