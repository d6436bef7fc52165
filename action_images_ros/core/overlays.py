"""Action images and action paths drawn over camera frames, for RViz and videos (opencv)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from action_images_ros.core.action_images import ActionImageConfig, encode, keypoints
from action_images_ros.core.cameras import CameraRig

OPEN_COLOUR, CLOSED_COLOUR = (60, 220, 60), (230, 50, 50)


def blend(rgb: np.ndarray, action_image: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend an action image (H, W, 3), float in [0, 1], onto an RGB frame (H, W, 3) uint8,
    where its blobs are (the blue background is left out)."""
    if rgb.shape != action_image.shape:
        raise ValueError(f"frame {rgb.shape} and action image {action_image.shape} differ")
    strength = np.clip(action_image.max(-1) - 0.25, 0, 1)[..., None] / 0.75
    mixed = rgb * (1 - alpha * strength) + 255 * action_image * alpha * strength
    return np.clip(mixed, 0, 255).astype(np.uint8)


def draw_overlays(
    frames: np.ndarray,
    positions: np.ndarray,
    rotations: np.ndarray,
    gripper: np.ndarray,
    rig: CameraRig,
    current: int = 0,
    config: ActionImageConfig | None = None,
) -> np.ndarray:
    """Frames (V, H, W, 3) uint8 with the action image of step `current` blended in and the
    whole path of T actions drawn: the end-effector path as a line, each step's orientation as
    a short green tick toward its normal point, and a dot where the gripper opens (green) or
    closes (red)."""
    config = config or ActionImageConfig.paper()
    poses = torch.as_tensor(positions, dtype=rig.intrinsics.dtype, device=rig.device)
    turns = torch.as_tensor(rotations, dtype=rig.intrinsics.dtype, device=rig.device)
    grips = torch.as_tensor(gripper, dtype=rig.intrinsics.dtype, device=rig.device)
    step = slice(current, current + 1)
    images = encode(poses[step], turns[step], grips[step], rig, config).images[0].cpu().numpy()
    pixels, depth = rig.project(keypoints(poses, turns, config.offset * 0.5))
    pixels, depth = pixels.cpu().numpy(), depth.cpu().numpy()  # (T, 3, V, 2), (T, 3, V)
    out = []
    for view, frame in enumerate(frames):
        canvas = blend(frame, images[view].astype(np.float32))
        path = pixels[:, 0, view]
        ahead = depth[:, 0, view] > 0
        for a, b in zip(range(len(path) - 1), range(1, len(path)), strict=True):
            if ahead[a] and ahead[b]:
                cv2.line(canvas, _pt(path[a]), _pt(path[b]), (255, 220, 0), 1, cv2.LINE_AA)
        for t in np.flatnonzero(ahead):
            cv2.line(canvas, _pt(path[t]), _pt(pixels[t, 1, view]), (0, 255, 0), 1, cv2.LINE_AA)
            if t > 0 and (gripper[t] > 0.5) != (gripper[t - 1] > 0.5):
                colour = OPEN_COLOUR if gripper[t] > 0.5 else CLOSED_COLOUR
                cv2.circle(canvas, _pt(path[t]), 4, colour, -1, cv2.LINE_AA)
        out.append(canvas)
    return np.stack(out)


def _pt(pixel: np.ndarray) -> tuple[int, int]:
    return int(round(float(np.clip(pixel[0], -1e4, 1e4)))), int(
        round(float(np.clip(pixel[1], -1e4, 1e4)))
    )
