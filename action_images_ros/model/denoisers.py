"""What every denoiser shares, and the registry that picks a denoiser class by name.

A denoiser predicts the flow-matching velocity of every frame of every view's RGB and
action-image clips, (B, V, 2, f, h, w, C), given per-frame timesteps, the views' Plücker rays and
a task id (or text embeddings). Each architecture is its own diffusers ModelMixin/ConfigMixin
class (`view_unet.ViewUNetDenoiser`, `wan_transformer.WanTransformerDenoiser`); a model
directory names its class in `denoiser/config.json` (`_class_name`), and the loader builds the
class registered under that name (`register_denoiser`), so a new architecture (for example the
published Action Images transformer) plugs in by registering itself.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from diffusers import ModelMixin
from diffusers.configuration_utils import ConfigMixin
from torch import nn

IMAGE_CHANNELS = 3
MIN_LEVEL = 1e-3  # noise levels below this count as this, where a velocity is divided by it
PREDICTIONS = ("velocity", "sample")


class ModelShapeError(ValueError):
    """Inputs whose views, frames or size differ from what the model was built for."""


def compressed_segment_shape(config: object) -> tuple[int, int, int, int]:
    """(frames, height, width, channels) of one segment after a VAE's compression: `config`
    has `frames`, `height`, `width`, `temporal_compression`, `spatial_compression` and
    `latent_channels` (the Wan transformers' configs)."""
    c = config
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


class Denoiser(ModelMixin, ConfigMixin):
    """Base of the denoisers: shape checks, the task embedding, and the prediction target.

    A subclass registers a config with at least `views`, `frames`, `height`, `width` (the pixel
    clips it was built for), `text_dim`, `num_tasks` and `prediction`, calls `_build_common()`
    and implements `network`. `prediction`: what the network outputs, "velocity" (flow matching)
    or "sample" (the clean clip, turned into the velocity here: a small model trained briefly
    then draws clean frames).
    """

    def _build_common(self) -> None:
        c = self.config
        if c.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be 'velocity' or 'sample', got {c.prediction!r}")
        self.task_embedding = nn.Embedding(c.num_tasks, c.text_dim)

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """(frames, height, width, channels) of one segment as the network sees it."""
        c = self.config
        return (c.frames, c.height, c.width, IMAGE_CHANNELS)

    @property
    def in_pixel_space(self) -> bool:
        """Whether the network denoises pixels (no VAE)."""
        return True

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

    def network(
        self,
        clips: torch.Tensor,
        timesteps: torch.Tensor,
        rays: torch.Tensor,
        context: torch.Tensor,
    ) -> torch.Tensor:
        """The raw network output (velocity or sample) for checked clips."""
        raise NotImplementedError

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
        out = self.network(clips, timesteps, rays, text_embeddings.to(clips.dtype))
        if self.config.prediction == "velocity":
            return out
        # x_t = (1 - s) x0 + s noise  =>  velocity = noise - x0 = (x_t - x0) / s.
        level = (timesteps / 1000).clamp_min(MIN_LEVEL)[..., None, None, None].to(out.dtype)
        return (clips - out) / level


DENOISERS: dict[str, type[Denoiser]] = {}
D = TypeVar("D", bound=type[Denoiser])


def register_denoiser(cls: D) -> D:
    """Class decorator: model directories may name `cls` (by its class name) as their denoiser."""
    DENOISERS[cls.__name__] = cls
    return cls


def denoiser_classes() -> dict[str, type[Denoiser]]:
    """Every registered denoiser class by name (the built-in ones imported first)."""
    from action_images_ros.model import (  # noqa: F401 - registers
        multiview_unet,
        published_transformer,
        view_unet,
        wan_transformer,
    )

    return dict(DENOISERS)
