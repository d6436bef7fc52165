"""Model-based labeling: actions for videos without robot state (the action-labeling mode).

Windows of F consecutive multi-view frames go through the model with every RGB frame given;
it generates their action images, which the codec decodes into actions with a confidence per
frame (with the drawing the model was trained with). Steps the decoder cannot triangulate stay
flagged invalid. One generator, seeded once (`reset`), draws fresh noise for every window, so
the same labeling error is not repeated window after window.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from action_images_ros.core.action_decoding import decode
from action_images_ros.model.loading import ModelBundle
from action_images_ros.model.modes import Mode
from action_images_ros.model.views import resize_views


@dataclass(frozen=True)
class LabeledWindow:
    action_images: np.ndarray  # (F, V, H, W, 3) uint8 at the input size
    positions: np.ndarray  # (F, 3)
    rotations: np.ndarray  # (F, 3, 3)
    gripper: np.ndarray  # (F,)
    confidence: np.ndarray  # (F,)
    valid: np.ndarray  # (F,)


class ModelLabeler:
    """Labels windows of the model's frames (its policy config) with its pipeline."""

    def __init__(
        self, model: ModelBundle, num_inference_steps: int | None = None, seed: int = 0
    ) -> None:
        """Steps default to the model's (its policy config)."""
        self.bundle, self.pipeline, self.model = model, model.pipeline, model.denoiser.eval()
        self.steps = num_inference_steps or model.config.num_inference_steps
        self.reset(seed)

    def reset(self, seed: int = 0) -> None:
        """Restart the noise sequence from `seed`: the windows that follow are reproducible."""
        self.generator = torch.Generator().manual_seed(seed)

    def label(
        self, frames: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray
    ) -> LabeledWindow:
        """`frames` (F, V, H, W, 3) uint8 of one window; cameras (V, 3, 3) and (V, 4, 4)."""
        c = self.model.config
        count, views, height, width, _ = frames.shape
        if count != c.frames or views != c.views:
            raise ValueError(f"the model labels {c.frames} frames of {c.views} views at a time")
        small, rig = resize_views(
            frames, intrinsics, extrinsics, c.width, c.height, self.bundle.config.center_crop
        )
        clips = torch.zeros(1, views, 2, count, c.height, c.width, 3)
        clips[0, :, 0] = torch.from_numpy(small).permute(1, 0, 2, 3, 4).float() / 255
        out = self.pipeline(
            clips=clips,
            rays=self.bundle.pipeline.camera_rays(rig),
            mode=Mode.ACTION_LABELING,
            num_inference_steps=self.steps,
            generator=self.generator,
        ).clips
        generated = (out[0, :, 1].permute(1, 0, 2, 3, 4) * 255).round().to(torch.uint8)
        decoded = decode(generated, rig, self.bundle.config.action_images)
        full_size = np.stack(
            [
                [cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in step]
                for step in generated.numpy()
            ]
        )
        return LabeledWindow(
            full_size,
            decoded.positions.double().numpy(),
            decoded.rotations.double().numpy(),
            decoded.gripper.double().numpy(),
            decoded.confidence.double().numpy(),
            decoded.valid.numpy(),
        )
