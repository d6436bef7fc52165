"""The multi-view UNet denoiser: a UNet per view whose coarse levels attend across all views.

Per-view convolutions keep the locality that action images need (a blob drawn a few pixels
from the current one, towards an object seen nearby; see `view_unet`), and at the coarse
levels the views' feature maps become one token sequence, [view 1 tokens, view 2 tokens, ...],
over which every token attends (`CrossViewAttention`): after the UNet's middle block and after
its coarsest up block. So one view's generated frames depend on what every other view shows,
the way the published model denoises all views jointly, at a cost a CPU can train.

Layout: as in `view_unet`, a view's clip (RGB and action frames, 2 x F x C) is stacked along
channels with one given-or-generated channel per frame and the view's Plücker rays; the
image is first folded into `patch_size` x `patch_size` pixel blocks (space-to-depth, exact and
invertible), so that a 64 x 64 clip runs through the UNet at 32 x 32 with 4x the channels and
the output is unfolded back. The generated frames share one noise level (as in training and
sampling), the UNet's timestep; the task or text condition enters as a class embedding.
Each cross-view attention's output projection starts at zero, so training starts from
independent views and learns what to exchange.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from diffusers.configuration_utils import register_to_config
from torch import nn

from action_images_ros.model.denoisers import IMAGE_CHANNELS, Denoiser, register_denoiser
from action_images_ros.model.rays import RAY_CHANNELS
from action_images_ros.model.view_unet import stack_view_inputs, unstack_view_outputs


class CrossViewAttention(nn.Module):
    """Residual self-attention over the tokens of all views of a sample: feature maps
    (B * V, C, h, w) in, the same shape out."""

    def __init__(self, views: int, channels: int, head_dim: int) -> None:
        super().__init__()
        self.views = views
        self.heads = max(1, channels // head_dim)
        self.norm = nn.GroupNorm(min(32, channels), channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch_views, channels, height, width = features.shape
        batch = batch_views // self.views
        tokens = self.norm(features).reshape(batch, self.views, channels, height * width)
        tokens = tokens.permute(0, 1, 3, 2).reshape(batch, -1, channels)  # (B, V h w, C)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        q, k, v = (x.unflatten(-1, (self.heads, -1)).transpose(1, 2) for x in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        update = self.out(attended).reshape(batch, self.views, height * width, channels)
        update = update.permute(0, 1, 3, 2).reshape(batch_views, channels, height, width)
        return features + update


class MultiViewUNet(nn.Module):
    """The network output (velocity or clean sample) for every frame of every view of
    (B, V, 2, F, H, W, C) clips: per-view UNet levels, joint attention at the coarse ones."""

    def __init__(
        self,
        views: int,
        frames: int,
        channels: int,
        condition_dim: int,
        block_channels: list[int],
        layers_per_block: int,
        patch_size: int,
        head_dim: int,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        frame_channels = 2 * frames * channels
        folded = patch_size**2
        attention = [False] + [True] * (len(block_channels) - 1)  # none at full resolution
        self.unet = UNet2DModel(
            in_channels=(frame_channels + 2 * frames + RAY_CHANNELS) * folded,
            out_channels=frame_channels * folded,
            block_out_channels=tuple(block_channels),
            down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attention),
            up_block_types=tuple(
                "AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)
            ),
            layers_per_block=layers_per_block,
            norm_num_groups=min(32, block_channels[0]),
            class_embed_type="identity",
            attention_head_dim=min(head_dim, *block_channels),
        )
        self.condition = nn.Linear(condition_dim, 4 * block_channels[0])
        # After the middle block (coarsest level) and after the coarsest up block (its output
        # is one level finer): the views' tokens attend to each other there.
        self.cross_view = nn.ModuleList(
            [
                CrossViewAttention(views, block_channels[-1], head_dim),
                CrossViewAttention(views, block_channels[-1], head_dim),
            ]
        )
        self.unet.mid_block.register_forward_hook(lambda m, i, out: self.cross_view[0](out))
        self.unet.up_blocks[0].register_forward_hook(lambda m, i, out: self.cross_view[1](out))

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
        inputs = F.pixel_unshuffle(inputs, self.patch_size)
        embedding = self.condition(condition.mean(dim=1)).repeat_interleave(clips.shape[1], dim=0)
        out = self.unet(inputs, level, class_labels=embedding, return_dict=False)[0]
        return unstack_view_outputs(F.pixel_shuffle(out, self.patch_size), clips.shape)


@register_denoiser
class MultiViewUNetDenoiser(Denoiser):
    """Pixel clips of `views` views, `frames` frames of `height` x `width`, folded into
    `patch_size` x `patch_size` blocks and denoised by a UNet with `block_channels` channels and
    `layers_per_block` residual blocks per level (attention within a view at every level below
    the full resolution, heads of `head_dim`), whose two coarsest stages attend across all
    views; `num_tasks` task embeddings of `text_dim` (or text embeddings of that size)
    condition it."""

    @register_to_config
    def __init__(
        self,
        views: int = 3,
        frames: int = 12,
        height: int = 64,
        width: int = 64,
        block_channels: tuple[int, ...] = (64, 128, 128),
        layers_per_block: int = 1,
        patch_size: int = 2,
        head_dim: int = 32,
        text_dim: int = 64,
        num_tasks: int = 8,
        prediction: str = "sample",
    ) -> None:
        super().__init__()
        if height % patch_size or width % patch_size:
            raise ValueError(f"height and width must be multiples of patch_size {patch_size}")
        self._build_common()
        self.unet = MultiViewUNet(
            views,
            frames,
            IMAGE_CHANNELS,
            text_dim,
            list(block_channels),
            layers_per_block,
            patch_size,
            head_dim,
        )

    def network(
        self,
        clips: torch.Tensor,
        timesteps: torch.Tensor,
        rays: torch.Tensor,
        context: torch.Tensor,
    ) -> torch.Tensor:
        return self.unet(clips, timesteps, rays, context)
