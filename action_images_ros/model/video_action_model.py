"""The video-action model: diffusers' WanTransformer3DModel over all views' RGB and action clips.

Token layout: each view contributes an RGB clip and an action-image clip; they are joined along
time as [view 1 RGB, view 1 action, view 2 RGB, view 2 action, ...] (the published layout) and
patchified by the Wan transformer (patch 1 x p x p: 2 for Wan's latents, 4 for the small pixel
preset). The clips are pixels (tiny and small
presets) or the latents of a Wan VAE (the Wan 2.2 TI2V-5B layout, see `latent_space`).
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
from diffusers import ModelMixin, WanTransformer3DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from torch import nn

from action_images_ros.core.cameras import CameraRig
from action_images_ros.model.view_unet import RAY_CHANNELS, ViewUNet

IMAGE_CHANNELS = 3
KIND_CHANNELS = 1
CONDITION_CHANNELS = RAY_CHANNELS + KIND_CHANNELS
MIN_LEVEL = 1e-3  # noise levels below this count as this, where a velocity is divided by it


class ModelShapeError(ValueError):
    """Inputs whose views, frames or size differ from what the model was built for."""


class VideoActionModel(ModelMixin, ConfigMixin):
    """Predicts the flow-matching velocity of every frame of every view's RGB and action clips.

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
        frame_interval: float = 0.2,
        latent_channels: int = IMAGE_CHANNELS,
        spatial_compression: int = 1,
        temporal_compression: int = 1,
        patch_size: int = 2,
        unet_channels: list[int] | None = None,
        prediction: str = "velocity",
    ) -> None:
        """`unet_channels` (channels per resolution level) makes the denoiser a per-view UNet
        (`view_unet`, the small CPU preset) instead of the Wan transformer; the transformer's
        settings (layers, heads, patch size, ...) then do not apply. `prediction`: what the
        network outputs, "velocity" (Wan's flow matching) or "sample" (the clean clip, turned
        into the velocity here: a small model trained briefly then draws clean frames)."""
        if prediction not in ("velocity", "sample"):
            raise ValueError(f"prediction must be 'velocity' or 'sample', got {prediction!r}")
        super().__init__()
        self.task_embedding = nn.Embedding(num_tasks, text_dim)
        if unet_channels:
            frames_seen, height_seen, _, channels = self.latent_shape
            self.unet = ViewUNet(frames_seen, height_seen, channels, text_dim, unet_channels)
            return
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
        c = self.config
        if (c.frames - 1) % c.temporal_compression:
            raise ModelShapeError(
                f"frames ({c.frames}) must be 1 + a multiple of {c.temporal_compression}"
            )
        return (
            1 + (c.frames - 1) // c.temporal_compression,
            c.height // c.spatial_compression,
            c.width // c.spatial_compression,
            c.latent_channels,
        )

    @property
    def in_pixel_space(self) -> bool:
        c = self.config
        return c.latent_channels == IMAGE_CHANNELS and c.spatial_compression == 1

    def check(self, clips: torch.Tensor, pixels: bool = False) -> None:
        """Clips must be (B, V, 2, f, h, w, C) for this model's views and latent shape, or with
        `pixels` (B, V, 2, F, H, W, 3) for its pixel frames and size."""
        c = self.config
        shape = (c.frames, c.height, c.width, IMAGE_CHANNELS) if pixels else self.latent_shape
        expected = (c.views, 2, *shape)
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
        text_embeddings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Velocity for noisy `clips` (B, V, 2, f, h, w, C), given per-frame `timesteps`
        (B, V, 2, f) in [0, 1000], Plücker `rays` (B, V, h, w, 6) at the clips' resolution and
        `task_ids` (B,), or `text_embeddings` (B, L, text_dim) instead of the task embedding.
        Returns (B, V, 2, f, h, w, C)."""
        self.check(clips)
        if text_embeddings is None:
            text_embeddings = self.task_embedding(task_ids)[:, None, :]
        context = text_embeddings.to(clips.dtype)
        if self.config.unet_channels:
            out = self.unet(clips, timesteps, rays, context)
        else:
            out = self._transformer_forward(clips, timesteps, rays, context)
        if self.config.prediction == "velocity":
            return out
        # x_t = (1 - s) x0 + s noise  =>  velocity = noise - x0 = (x_t - x0) / s.
        level = (timesteps / 1000).clamp_min(MIN_LEVEL)[..., None, None, None].to(out.dtype)
        return (clips - out) / level

    def _transformer_forward(
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
        frame_interval: float = 0.2,
        torch_dtype: torch.dtype = torch.float32,
    ) -> VideoActionModel:
        """A model around the pretrained transformer of a local diffusers Wan directory (e.g.
        Wan 2.2 TI2V-5B: `<path>/transformer` and `<path>/vae`). The patch embedding gets
        zero-initialised input channels for the rays and the segment kind, so at the start
        the model predicts exactly what the backbone predicts for the video latents."""
        path = Path(path)
        folder = path / "transformer"
        if not (folder / "config.json").exists():
            raise FileNotFoundError(f"no Wan transformer (transformer/config.json) in {path}")
        vae_config = WanTransformer3DModel.load_config(path / "vae") if (
            path / "vae" / "config.json"
        ).exists() else None  # fmt: skip
        if vae_config is None:
            raise FileNotFoundError(f"no Wan VAE (vae/config.json) in {path}")
        backbone = WanTransformer3DModel.from_pretrained(
            folder, use_safetensors=True, torch_dtype=torch_dtype
        )
        b = backbone.config
        if tuple(b.patch_size) != (1, 2, 2) or b.in_channels != vae_config["z_dim"]:
            raise ValueError(
                f"{folder}: expected patch (1, 2, 2) over the VAE's {vae_config['z_dim']} latent "
                f"channels, got patch {tuple(b.patch_size)} over {b.in_channels} channels"
            )
        config = dict(
            views=views, frames=frames, height=height, width=width, num_layers=b.num_layers,
            num_attention_heads=b.num_attention_heads, attention_head_dim=b.attention_head_dim,
            ffn_dim=b.ffn_dim, text_dim=b.text_dim, freq_dim=b.freq_dim, num_tasks=num_tasks,
            frame_interval=frame_interval, latent_channels=b.in_channels,
            spatial_compression=vae_config["scale_factor_spatial"],
            temporal_compression=vae_config["scale_factor_temporal"],
        )  # fmt: skip
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
        model.latent_shape  # noqa: B018 - validates frames against the VAE's compression
        return model


def plucker_rays(rig: CameraRig, height: int, width: int) -> torch.Tensor:
    """(V, H, W, 6) rays (unit direction, moment origin x direction) through the centre of every
    cell of an H x W grid over each camera's image (pixels, or a VAE's latent cells), in the
    base frame."""
    scaled = rig.resized(width, height)
    k = scaled.intrinsics
    v, u = torch.meshgrid(
        torch.arange(height, dtype=k.dtype, device=k.device),
        torch.arange(width, dtype=k.dtype, device=k.device),
        indexing="ij",
    )
    pixels = torch.stack([u, v], -1)[:, :, None].expand(height, width, rig.views, 2)
    origins, directions = scaled.rays(pixels)  # (V, 3), (H, W, V, 3)
    moments = torch.linalg.cross(origins.expand_as(directions), directions, dim=-1)
    return torch.cat([directions, moments], -1).permute(2, 0, 1, 3).contiguous()
