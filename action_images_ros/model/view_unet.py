"""The per-view UNet denoiser (the small CPU preset): diffusers' UNet2DModel, one view at a time.

Why not the Wan transformer there: trained from scratch on two CPU cores, a 1 M-parameter
transformer over 4 x 4 patches still generated noise after 1,500 steps (an hour), while a UNet's
convolutions bring the locality that action images need (a blob to be drawn a few pixels from
the current one, towards an object seen nearby); predicting samples, it draws clean blobs after
500 steps.

Layout: a view's clip, RGB and action frames alike, is stacked along channels (2 x F x C), with
one channel per frame telling given (clean) frames from generated ones and the view's Plücker
rays; views are batched, so every view is denoised on its own (the decoder fuses them by
triangulation). Timesteps: given frames are exactly clean, the generated ones share one noise
level (as in training and sampling), which the UNet gets as its timestep. Task or text
conditioning enters as a class embedding (text embeddings mean-pooled over their tokens).
"""

from __future__ import annotations

import torch
from diffusers import UNet2DModel
from diffusers.configuration_utils import register_to_config
from torch import nn

from action_images_ros.model.denoisers import IMAGE_CHANNELS, Denoiser, register_denoiser
from action_images_ros.model.rays import RAY_CHANNELS


class ViewUNet(nn.Module):
    """The network output (velocity or clean sample, per the model's `prediction`) for every
    frame of every view of (B, V, 2, F, H, W, C) clips, one view at a time."""

    def __init__(
        self,
        frames: int,
        height: int,
        channels: int,
        condition_dim: int,
        block_channels: list[int],
    ) -> None:
        super().__init__()
        frame_channels = 2 * frames * channels
        attention = [False] + [True] * (len(block_channels) - 1)  # none at full resolution
        self.unet = UNet2DModel(
            sample_size=height,
            in_channels=frame_channels + 2 * frames + RAY_CHANNELS,
            out_channels=frame_channels,
            block_out_channels=tuple(block_channels),
            down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attention),
            up_block_types=tuple(
                "AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)
            ),
            layers_per_block=2,
            norm_num_groups=min(32, block_channels[0]),
            class_embed_type="identity",
            attention_head_dim=min(32, *block_channels),
        )
        self.condition = nn.Linear(condition_dim, 4 * block_channels[0])

    def forward(
        self,
        clips: torch.Tensor,
        timesteps: torch.Tensor,
        rays: torch.Tensor,
        condition: torch.Tensor,
    ) -> torch.Tensor:
        """`clips` (B, V, 2, F, H, W, C), `timesteps` (B, V, 2, F), `rays` (B, V, H, W, 6),
        `condition` (B, L, D) (task embedding or text tokens). Returns (B, V, 2, F, H, W, C)."""
        inputs, level = stack_view_inputs(clips, timesteps, rays)
        embedding = self.condition(condition.mean(dim=1)).repeat_interleave(clips.shape[1], dim=0)
        out = self.unet(inputs, level, class_labels=embedding, return_dict=False)[0]
        return unstack_view_outputs(out, clips.shape)


@register_denoiser
class ViewUNetDenoiser(Denoiser):
    """Pixel clips of `views` views, `frames` frames of `height` x `width`, denoised one view at
    a time by a UNet with `block_channels` channels per resolution level (attention at every
    level below the full resolution); `num_tasks` task embeddings of `text_dim` (or text
    embeddings of that size) condition it."""

    @register_to_config
    def __init__(
        self,
        views: int = 3,
        frames: int = 3,
        height: int = 32,
        width: int = 32,
        block_channels: tuple[int, ...] = (32, 64, 64),
        text_dim: int = 64,
        num_tasks: int = 8,
        prediction: str = "sample",
    ) -> None:
        super().__init__()
        self._build_common()
        self.unet = ViewUNet(frames, height, IMAGE_CHANNELS, text_dim, list(block_channels))

    def network(
        self,
        clips: torch.Tensor,
        timesteps: torch.Tensor,
        rays: torch.Tensor,
        context: torch.Tensor,
    ) -> torch.Tensor:
        return self.unet(clips, timesteps, rays, context)


def stack_view_inputs(
    clips: torch.Tensor, timesteps: torch.Tensor, rays: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One UNet input per view: its RGB and action frames, the given-frame flags and its rays
    stacked along channels, (B * V, C_in, H, W), and the view's noise level (B * V,) (its
    noisiest frame)."""
    batch, views, _, _, height, width, _ = clips.shape
    images = clips.permute(0, 1, 2, 3, 6, 4, 5).reshape(batch * views, -1, height, width)
    given = (timesteps == 0).to(clips.dtype).reshape(batch * views, -1, 1, 1)
    ray_maps = rays.permute(0, 1, 4, 2, 3).reshape(batch * views, -1, height, width)
    inputs = torch.cat(
        [images, given.expand(-1, -1, height, width), ray_maps.to(clips.dtype)], dim=1
    )
    return inputs, timesteps.reshape(batch * views, -1).amax(dim=1)


def unstack_view_outputs(out: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The UNet's (B * V, 2 * F * C, H, W) output back to clips of `shape` (B, V, 2, F, H, W, C)."""
    batch, views, kinds, frames, height, width, channels = shape
    out = out.reshape(batch, views, kinds, frames, channels, height, width)
    return out.permute(0, 1, 2, 3, 5, 6, 4)
