"""Camera views at the model's size: frames resized, camera models resized with them."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from action_images_ros.core.cameras import CameraRig


def resize_views(
    images: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, CameraRig]:
    """`images` (..., V, H, W, 3) uint8 resized to `width` x `height` (area filter), and the
    float32 rig of the V cameras at that size."""
    source_height, source_width = images.shape[-3:-1]
    flat = images.reshape(-1, source_height, source_width, 3)
    resized = np.stack(
        [cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA) for image in flat]
    ).reshape(*images.shape[:-3], height, width, 3)
    rig = CameraRig.from_arrays(intrinsics, extrinsics, source_width, source_height)
    return resized, rig.resized(width, height).to("cpu", torch.float32)
