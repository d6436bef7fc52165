"""Where the diffusion runs: pixel space (tiny, small) or the latent space of a Wan VAE (5B).

Both spaces turn clips (B, V, 2, F, H, W, 3) in [0, 1] (per view an RGB and an action-image
segment of F frames) into what the transformer denoises, (B, V, 2, f, h, w, C), and back.

- `PixelSpace`: pixels scaled to [-1, 1]; f, h, w = F, H, W and C = 3.
- `WanLatentSpace`: diffusers' `AutoencoderKLWan` encodes every segment on its own (the
  published layout), normalised by the VAE's `latents_mean` / `latents_std` as Wan's pipelines
  do. Its causal 3D VAE maps 1 + 4k frames to 1 + k latent frames and the first latent frame
  holds frame 0 alone, so "frame 0 given" means "latent frame 0 given" and the modes' masks
  apply to latent frames unchanged. Decoding is memory-aware: segments go through the decoder a
  few at a time (`segments_per_pass`), and spatial tiling is on for frames larger than a tile.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch
from diffusers import AutoencoderKLWan

if TYPE_CHECKING:
    from action_images_ros.model.denoisers import Denoiser


class ClipSpace(Protocol):
    def encode(self, clips: torch.Tensor) -> torch.Tensor: ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...


class PixelSpace:
    """Pixels in [-1, 1]: the space of the tiny and small presets."""

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        return (clips * 2 - 1).clamp(-1, 1)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return ((latents.float() + 1) / 2).clamp(0, 1)


class WanLatentSpace:
    """Segments through a frozen `AutoencoderKLWan` (see the module docstring)."""

    def __init__(
        self, vae: AutoencoderKLWan, segments_per_pass: int = 2, tile_size: int = 256
    ) -> None:
        self.vae = vae.eval().requires_grad_(False)
        self.segments_per_pass = segments_per_pass
        vae.enable_tiling(tile_size, tile_size, tile_size * 3 // 4, tile_size * 3 // 4)
        config = vae.config
        self.channels = config.z_dim
        self.spatial = config.scale_factor_spatial
        self.temporal = config.scale_factor_temporal
        shape = (1, -1, 1, 1, 1)
        self._mean = torch.tensor(config.latents_mean).view(shape)
        self._std = torch.tensor(config.latents_std).view(shape)

    @classmethod
    def from_pretrained(cls, path: str | Path, **options: object) -> WanLatentSpace:
        """The VAE of a local diffusers directory (`<path>/vae`, or `path` itself)."""
        path = Path(path)
        folder = path / "vae" if (path / "vae" / "config.json").exists() else path
        if not (folder / "config.json").exists():
            raise FileNotFoundError(f"no AutoencoderKLWan (vae/config.json) in {path}")
        vae = AutoencoderKLWan.from_pretrained(folder, use_safetensors=True, local_files_only=True)
        return cls(vae, **options)

    def latent_frames(self, frames: int) -> int:
        if (frames - 1) % self.temporal:
            raise ValueError(
                f"the Wan VAE encodes 1 + {self.temporal}k frames per segment, got {frames}"
            )
        return 1 + (frames - 1) // self.temporal

    def _passes(self, segments: torch.Tensor) -> list[torch.Tensor]:
        return list(segments.split(self.segments_per_pass))

    @torch.no_grad()
    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, V, 2, F, H, W, 3) in [0, 1] -> (B, V, 2, f, h, w, C), normalised."""
        batch, views, kinds, frames, height, width, _ = clips.shape
        if height % self.spatial or width % self.spatial:
            raise ValueError(f"frame size {height} x {width} is not a multiple of {self.spatial}")
        self.latent_frames(frames)
        vae_dtype = self.vae.dtype
        segments = clips.reshape(-1, frames, height, width, 3).permute(0, 4, 1, 2, 3)
        latents = torch.cat(
            [
                self.vae.encode((part * 2 - 1).to(vae_dtype)).latent_dist.mode()
                for part in self._passes(segments)
            ]
        )
        mean, std = self._mean.to(latents), self._std.to(latents)
        latents = (latents - mean) / std
        latents = latents.permute(0, 2, 3, 4, 1)  # (N, f, h, w, C)
        return latents.reshape(batch, views, kinds, *latents.shape[1:])

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, V, 2, f, h, w, C) -> (B, V, 2, F, H, W, 3) in [0, 1]."""
        batch, views, kinds = latents.shape[:3]
        segments = latents.reshape(-1, *latents.shape[3:]).permute(0, 4, 1, 2, 3)
        mean, std = self._mean.to(segments), self._std.to(segments)
        segments = (segments * std + mean).to(self.vae.dtype)
        pixels = torch.cat(
            [self.vae.decode(part).sample.float() for part in self._passes(segments)]
        )
        pixels = ((pixels + 1) / 2).clamp(0, 1).permute(0, 2, 3, 4, 1)
        return pixels.reshape(batch, views, kinds, *pixels.shape[1:])


def clip_space(model: Denoiser, vae: WanLatentSpace | None = None) -> ClipSpace:
    """The space `model` denoises in: pixels, or the latents of `vae`, which must match it."""
    if model.in_pixel_space:
        if vae is not None:
            raise ValueError("this model works on pixels; it takes no VAE")
        return PixelSpace()
    c = model.config
    if vae is None:
        raise ValueError(
            f"this model works in the latent space of a VAE ({c.latent_channels} channels, "
            f"{c.spatial_compression}x smaller); pass the VAE it was trained with"
        )
    if (vae.channels, vae.spatial, vae.temporal) != (
        c.latent_channels,
        c.spatial_compression,
        c.temporal_compression,
    ):
        raise ValueError(
            f"the VAE ({vae.channels} channels, {vae.spatial}x, {vae.temporal}x in time) does "
            f"not fit the model ({c.latent_channels}, {c.spatial_compression}x, "
            f"{c.temporal_compression}x)"
        )
    return vae
