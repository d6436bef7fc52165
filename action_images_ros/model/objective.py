"""The training objective of the video-action model (rectified flow, see `pipeline`).

Each sample's mode decides which frames are given clean (timestep 0) and which are noised and
supervised; a model predicting samples is trained on the error of its sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from action_images_ros.model.denoisers import MIN_LEVEL, Denoiser
from action_images_ros.model.modes import Mode, frame_mask, given_mask, supervised_mask


def flow_matching_loss(
    model: Denoiser,
    clean: torch.Tensor,
    rays: torch.Tensor,
    task_ids: torch.Tensor,
    modes: list[Mode | str],
    generator: torch.Generator | None = None,
    text_embeddings: torch.Tensor | None = None,
    action_weight: float = 1.0,
    given_action_frames: Sequence[int] | None = None,
) -> torch.Tensor:
    """Rectified-flow loss on the frames each sample's mode generates; `clean` is the clip in
    the model's space (`clip_space(model).encode(clips)`). Errors on action frames count
    `action_weight` times; the loss is normalised by the total weight. A model predicting
    samples is trained on the error of its sample (the velocity error times the noise level).
    `given_action_frames` (one per sample, policy-mode samples only): future action frames
    given clean as well, as real-time chunking gives them (`modes.given_mask`)."""
    model.check(clean)
    frames = clean.shape[3]
    prefixes = [0] * len(modes) if given_action_frames is None else list(given_action_frames)
    if len(prefixes) != len(modes):
        raise ValueError(f"{len(prefixes)} given_action_frames for {len(modes)} samples")
    pairs = list(zip(modes, prefixes, strict=True))
    given = torch.stack([given_mask(m, frames, n) for m, n in pairs]).to(clean.device)
    supervised = torch.stack([supervised_mask(m, frames, n) for m, n in pairs])
    supervised = supervised.to(clean.device)
    level = torch.rand(clean.shape[0], generator=generator).to(clean.device, clean.dtype)
    level = level[:, None, None, None, None, None, None]
    noise = torch.randn(clean.shape, generator=generator).to(clean.device, clean.dtype)
    noisy = torch.where(frame_mask(given, clean), clean, (1 - level) * clean + level * noise)
    frame_given = given[:, None].expand(-1, clean.shape[1], -1, -1)
    timesteps = torch.where(frame_given, 0.0, 1000 * level.view(-1, 1, 1, 1))
    velocity = model(noisy, timesteps.to(clean.dtype), rays, task_ids, text_embeddings)
    kind_weight = torch.tensor([1.0, action_weight], dtype=clean.dtype, device=clean.device)
    supervised = supervised.to(clean.dtype) * kind_weight[None, :, None]
    weight = frame_mask(supervised, clean).expand_as(clean)
    total = weight.sum().clamp_min(1)
    if model.config.prediction == "sample":  # s^2 |v - v*|^2 = |x0 - x0*|^2: the sample's error
        weight = weight * level.clamp_min(MIN_LEVEL) ** 2
    error = (velocity - (noise - clean)) ** 2 * weight
    return error.sum() / total
