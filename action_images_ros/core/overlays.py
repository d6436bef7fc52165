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
    action_images: np.ndarray | None = None,
) -> np.ndarray:
    """Frames (V, H, W, 3) uint8 with the action image of step `current` blended in and the
    whole path of T actions drawn: the end-effector path as a line, each step's orientation as
    a short green tick toward its normal point, and a dot where the gripper opens (green) or
    closes (red). `action_images` (V, H, W, 3) in [0, 1]: that step's action images where the
    caller has encoded them already (else they are encoded here with `config`).

    The path is drawn with one opencv call per kind of mark and view (a labeling node draws a
    path of hundreds of joint states ten times a second)."""
    config = config or ActionImageConfig.paper()
    poses = torch.as_tensor(positions, dtype=rig.intrinsics.dtype, device=rig.device)
    turns = torch.as_tensor(rotations, dtype=rig.intrinsics.dtype, device=rig.device)
    if action_images is None:
        grips = torch.as_tensor(gripper, dtype=rig.intrinsics.dtype, device=rig.device)
        step = slice(current, current + 1)
        action_images = encode(poses[step], turns[step], grips[step], rig, config).images[0]
        action_images = action_images.cpu().numpy()
    pixels, depth = rig.project(keypoints(poses, turns, config.offset * 0.5))
    # (T, 3, V, 2) integer pixels (far-off points clipped, as opencv takes int coordinates)
    points = np.rint(np.clip(pixels.cpu().numpy(), -1e4, 1e4)).astype(np.int32)
    ahead_all = depth.cpu().numpy()[:, 0] > 0  # (T, V)
    closed = np.asarray(gripper) > 0.5
    switches = np.flatnonzero(closed[1:] != closed[:-1]) + 1
    out = []
    for view, frame in enumerate(frames):
        canvas = blend(frame, np.asarray(action_images[view], dtype=np.float32))
        path, ahead = points[:, 0, view], ahead_all[:, view]
        both = np.flatnonzero(ahead[:-1] & ahead[1:])
        segments = list(np.stack([path[both], path[both + 1]], axis=1))
        ticks = list(np.stack([path[ahead], points[ahead, 1, view]], axis=1))
        if segments:
            cv2.polylines(canvas, segments, False, (255, 220, 0), 1, cv2.LINE_AA)
        if ticks:
            cv2.polylines(canvas, ticks, False, (0, 255, 0), 1, cv2.LINE_AA)
        for t in switches[ahead[switches]]:
            colour = CLOSED_COLOUR if closed[t] else OPEN_COLOUR
            cv2.circle(canvas, tuple(int(c) for c in path[t]), 4, colour, -1, cv2.LINE_AA)
        out.append(canvas)
    return np.stack(out)
