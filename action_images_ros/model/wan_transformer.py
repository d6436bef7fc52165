"""The Wan transformer denoiser: WanTransformer3DModel over every view's RGB and action clips.

Token layout: each view contributes an RGB clip and an action-image clip; they are joined along
time as [view 1 RGB, view 1 action, view 2 RGB, view 2 action, ...] (the published layout) and
patchified by the Wan transformer (patch 1 x p x p: 2 for Wan's latents), so every view attends
to every other. The clips are pixels (the tiny preset) or the latents of a Wan VAE (the Wan 2.2
TI2V-5B layout, see `latent_space`).
Differences from the published implementation, each on purpose:
- per-token timesteps (Wan 2.2's `expand_timesteps` path): given frames carry timestep 0 and
  stay exactly clean, instead of one scalar timestep for everything;
- camera conditioning as Plücker rays (direction, moment about the base origin) in the robot
  base frame at every token's pixel, concatenated to every frame's channels: no ray maps go
  through the VAE and no per-block projector is needed;
- a channel telling RGB frames (-1) from action frames (+1), so the two segment kinds of a view
  never rely on position alone.
Conditioning: a learned embedding per task id (0 = no task, used for guidance), or text
embeddings from a text encoder the user gives (`text_conditioning`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import init_empty_weights
from diffusers import WanTransformer3DModel
from diffusers.configuration_utils import register_to_config
from torch import nn

from action_images_ros.model.denoisers import (
    IMAGE_CHANNELS,
    Denoiser,
    compressed_segment_shape,
    register_denoiser,
)
from action_images_ros.model.rays import RAY_CHANNELS

KIND_CHANNELS = 1
CONDITION_CHANNELS = RAY_CHANNELS + KIND_CHANNELS


@register_denoiser
class WanTransformerDenoiser(Denoiser):
    """The velocity (or sample) of every frame of every view, from one joint token sequence.

    `frames`, `height` and `width` are those of the pixel clips; with a VAE
    (`latent_channels` != 3) the transformer sees 1 + (frames - 1) / `temporal_compression`
    latent frames of (height, width) / `spatial_compression`.
    """

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
        freq_dim: int = 64,
        num_tasks: int = 8,
        latent_channels: int = IMAGE_CHANNELS,
        spatial_compression: int = 1,
        temporal_compression: int = 1,
        patch_size: int = 2,
        prediction: str = "velocity",
    ) -> None:
        super().__init__()
        self._build_common()
        self.latent_shape  # noqa: B018 - validates frames against the temporal compression
        self.transformer = WanTransformer3DModel(
            patch_size=(1, patch_size, patch_size),
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=latent_channels + CONDITION_CHANNELS,
            out_channels=latent_channels,
            text_dim=text_dim,
            freq_dim=freq_dim,
            ffn_dim=ffn_dim,
            num_layers=num_layers,
            rope_max_seq_len=1024,
        )

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """(frames, height, width, channels) of one segment as the transformer sees it."""
        return compressed_segment_shape(self.config)

    @property
    def in_pixel_space(self) -> bool:
        c = self.config
        return c.latent_channels == IMAGE_CHANNELS and c.spatial_compression == 1

    def network(
        self,
        clips: torch.Tensor,
        timesteps: torch.Tensor,
        rays: torch.Tensor,
        context: torch.Tensor,
    ) -> torch.Tensor:
        batch, views, _, frames, height, width, channels = clips.shape
        kind = torch.tensor([-1.0, 1.0], dtype=clips.dtype, device=clips.device)
        kind = kind.view(1, 1, 2, 1, 1, 1, 1).expand(batch, views, 2, frames, height, width, 1)
        ray_maps = rays[:, :, None, None].expand(batch, views, 2, frames, height, width, 6)
        inputs = torch.cat([clips, ray_maps.to(clips.dtype), kind], dim=-1)
        # (B, V, 2, f, h, w, C') -> (B, C', V*2*f, h, w): views' segments joined along time.
        hidden = inputs.permute(0, 6, 1, 2, 3, 4, 5).reshape(
            batch, -1, views * 2 * frames, height, width
        )
        patch = self.config.patch_size
        tokens_per_frame = (height // patch) * (width // patch)
        token_timesteps = timesteps.reshape(batch, -1).repeat_interleave(tokens_per_frame, dim=1)
        out = self.transformer(hidden, token_timesteps, context, return_dict=False)[0]
        out = out.reshape(batch, channels, views, 2, frames, height, width)
        return out.permute(0, 2, 3, 4, 5, 6, 1)

    @classmethod
    def from_wan_backbone(
        cls,
        path: str | Path,
        views: int,
        frames: int,
        height: int,
        width: int,
        num_tasks: int = 8,
        torch_dtype: torch.dtype = torch.float32,
    ) -> WanTransformerDenoiser:
        """A model around the pretrained transformer of a local diffusers Wan directory (e.g.
        Wan 2.2 TI2V-5B: `<path>/transformer` and `<path>/vae`). The patch embedding gets
        zero-initialised input channels for the rays and the segment kind, so at the start
        the model predicts exactly what the backbone predicts for the video latents."""
        path = Path(path)
        folder = path / "transformer"
        if not (folder / "config.json").exists():
            raise FileNotFoundError(f"no Wan transformer (transformer/config.json) in {path}")
        vae_config = (
            WanTransformer3DModel.load_config(path / "vae")
            if (path / "vae" / "config.json").exists()
            else None
        )
        if vae_config is None:
            raise FileNotFoundError(f"no Wan VAE (vae/config.json) in {path}")
        backbone = WanTransformer3DModel.from_pretrained(
            folder, use_safetensors=True, local_files_only=True, torch_dtype=torch_dtype
        )
        b = backbone.config
        if tuple(b.patch_size) != (1, 2, 2) or b.in_channels != vae_config["z_dim"]:
            raise ValueError(
                f"{folder}: expected patch (1, 2, 2) over the VAE's {vae_config['z_dim']} latent "
                f"channels, got patch {tuple(b.patch_size)} over {b.in_channels} channels"
            )
        config = dict(
            views=views,
            frames=frames,
            height=height,
            width=width,
            num_layers=b.num_layers,
            num_attention_heads=b.num_attention_heads,
            attention_head_dim=b.attention_head_dim,
            ffn_dim=b.ffn_dim,
            text_dim=b.text_dim,
            freq_dim=b.freq_dim,
            num_tasks=num_tasks,
            latent_channels=b.in_channels,
            spatial_compression=vae_config["scale_factor_spatial"],
            temporal_compression=vae_config["scale_factor_temporal"],
        )
        with init_empty_weights():
            model = cls(**config)
        old = backbone.patch_embedding
        new = nn.Conv3d(
            old.in_channels + CONDITION_CHANNELS, old.out_channels, old.kernel_size, old.stride
        ).to(old.weight.device, old.weight.dtype)
        with torch.no_grad():
            new.weight.zero_()
            new.weight[:, : old.in_channels] = old.weight
            new.bias.copy_(old.bias)
        backbone.patch_embedding = new
        backbone.register_to_config(in_channels=new.in_channels)
        model.transformer = backbone
        model.task_embedding = nn.Embedding(num_tasks, b.text_dim).to(torch_dtype)
        return model
