"""The video-action model: diffusers' WanTransformer3DModel over all views' RGB and action clips.

Token layout: each view contributes an RGB clip and an action-image clip of F frames; they are
joined along time as [view 1 RGB, view 1 action, view 2 RGB, view 2 action, ...] (the published
layout) and patchified by the Wan transformer (patch 1 x 2 x 2). Differences from the published
implementation, each on purpose:
- per-token timesteps (Wan 2.2's `expand_timesteps` path): given frames carry timestep 0 and
  stay exactly clean, instead of one scalar timestep for everything;
- camera conditioning as per-pixel Plücker rays (direction, moment about the base origin) in the
  robot base frame, concatenated to every frame's channels, so no ray maps go through a VAE
  and no per-block projector is needed;
- a channel telling RGB frames (-1) from action frames (+1), so the two segment kinds of a view
  never rely on position alone;
- the tiny and small presets work in pixel space (no VAE) so that they train on a CPU; the 5B
  backbone is loaded from a local diffusers directory.
Task conditioning: a learned embedding per task id (0 = no task, used for guidance).
"""

from __future__ import annotations

import torch
from diffusers import ModelMixin, WanTransformer3DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from torch import nn

from action_images_ros.core.cameras import CameraRig

IMAGE_CHANNELS = 3
RAY_CHANNELS = 6
KIND_CHANNELS = 1


class ModelShapeError(ValueError):
    """Inputs whose views, frames or size differ from what the model was built for."""


class VideoActionModel(ModelMixin, ConfigMixin):
    """Predicts the flow-matching velocity of every frame of every view's RGB and action clips."""

    @register_to_config
    def __init__(
        self,
        views: int = 2,
        frames: int = 4,
        height: int = 32,
        width: int = 32,
        num_layers: int = 2,
        num_attention_heads: int = 2,
        attention_head_dim: int = 16,
        ffn_dim: int = 64,
        text_dim: int = 32,
        num_tasks: int = 8,
        frame_interval: float = 0.2,
    ) -> None:
        super().__init__()
        self.transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=IMAGE_CHANNELS + RAY_CHANNELS + KIND_CHANNELS,
            out_channels=IMAGE_CHANNELS,
            text_dim=text_dim,
            freq_dim=64,
            ffn_dim=ffn_dim,
            num_layers=num_layers,
            rope_max_seq_len=1024,
        )
        self.task_embedding = nn.Embedding(num_tasks, text_dim)

    def check(self, clips: torch.Tensor) -> None:
        """Clips must be (B, V, 2, F, H, W, 3) for this model's V, F, H, W."""
        c = self.config
        expected = (c.views, 2, c.frames, c.height, c.width, IMAGE_CHANNELS)
        if clips.ndim != 7 or tuple(clips.shape[1:]) != expected:
            raise ModelShapeError(
                f"clips must be (B, {', '.join(map(str, expected))}) = (batch, views, "
                f"[rgb, action], frames, height, width, channels), got {tuple(clips.shape)}"
            )

    def forward(
        self,
        clips: torch.Tensor,
        timesteps: torch.Tensor,
        rays: torch.Tensor,
        task_ids: torch.Tensor,
    ) -> torch.Tensor:
        """Velocity for noisy `clips` (B, V, 2, F, H, W, 3) in [-1, 1], given per-frame
        `timesteps` (B, V, 2, F) in [0, 1000], Plücker `rays` (B, V, H, W, 6) and `task_ids`
        (B,). Returns (B, V, 2, F, H, W, 3)."""
        self.check(clips)
        batch, views, _, frames, height, width, _ = clips.shape
        kind = torch.tensor([-1.0, 1.0], dtype=clips.dtype, device=clips.device)
        kind = kind.view(1, 1, 2, 1, 1, 1, 1).expand(batch, views, 2, frames, height, width, 1)
        ray_maps = rays[:, :, None, None].expand(batch, views, 2, frames, height, width, 6)
        channels = torch.cat([clips, ray_maps.to(clips.dtype), kind], dim=-1)
        # (B, V, 2, F, H, W, C) -> (B, C, V*2*F, H, W): views' segments joined along time.
        hidden = channels.permute(0, 6, 1, 2, 3, 4, 5).reshape(
            batch, -1, views * 2 * frames, height, width
        )
        tokens_per_frame = (height // 2) * (width // 2)
        token_timesteps = timesteps.reshape(batch, -1).repeat_interleave(tokens_per_frame, dim=1)
        text = self.task_embedding(task_ids)[:, None, :].to(clips.dtype)
        out = self.transformer(hidden, token_timesteps, text, return_dict=False)[0]
        out = out.reshape(batch, IMAGE_CHANNELS, views, 2, frames, height, width)
        return out.permute(0, 2, 3, 4, 5, 6, 1)


def plucker_rays(rig: CameraRig, height: int, width: int) -> torch.Tensor:
    """(V, H, W, 6) rays (unit direction, moment origin x direction) of every pixel of an
    H x W image of each camera (the rig's K rescaled to that size), in the base frame."""
    scale = torch.tensor([width / rig.width, height / rig.height, 1.0], dtype=rig.intrinsics.dtype)
    k = rig.intrinsics * scale.to(rig.device)[:, None]
    scaled = CameraRig(k, rig.extrinsics, width, height)
    v, u = torch.meshgrid(
        torch.arange(height, dtype=k.dtype, device=k.device),
        torch.arange(width, dtype=k.dtype, device=k.device),
        indexing="ij",
    )
    pixels = torch.stack([u, v], -1)[:, :, None].expand(height, width, rig.views, 2)
    origins, directions = scaled.rays(pixels)  # (V, 3), (H, W, V, 3)
    moments = torch.linalg.cross(origins.expand_as(directions), directions, dim=-1)
    return torch.cat([directions, moments], -1).permute(2, 0, 1, 3).contiguous()
