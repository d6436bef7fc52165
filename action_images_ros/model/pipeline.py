"""Sampling and the training objective of the video-action model (rectified flow).

A clip x0 (pixels in [-1, 1], or VAE latents, see `latent_space`) is noised as
x_t = (1 - s) x0 + s * noise for a noise level s in [0, 1] (timestep 1000 s); the model predicts
the velocity noise - x0. Given frames are held clean with timestep 0; generated frames are
integrated from pure noise by diffusers' FlowMatchEulerDiscreteScheduler. Classifier-free
guidance contrasts the task (or the prompt) with task 0 (or the empty prompt).
"""

from __future__ import annotations

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from action_images_ros.model.latent_space import ClipSpace, PixelSpace, WanLatentSpace
from action_images_ros.model.modes import Mode, given_mask, supervised_mask
from action_images_ros.model.video_action_model import MIN_LEVEL, VideoActionModel


def _frame_mask(mask: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """(2, F) or (B, 2, F) -> broadcastable over (B, V, 2, F, H, W, C)."""
    if mask.ndim == 2:
        mask = mask[None]
    return mask[:, None, :, :, None, None, None].to(clips.device)


def clip_space(model: VideoActionModel, vae: WanLatentSpace | None = None) -> ClipSpace:
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
        c.latent_channels, c.spatial_compression, c.temporal_compression
    ):  # fmt: skip
        raise ValueError(
            f"the VAE ({vae.channels} channels, {vae.spatial}x, {vae.temporal}x in time) does "
            f"not fit the model ({c.latent_channels}, {c.spatial_compression}x, "
            f"{c.temporal_compression}x)"
        )
    return vae


class VideoActionPipeline:
    """Generates the frames a mode leaves open, deterministically for a generator's seed."""

    def __init__(
        self,
        model: VideoActionModel,
        scheduler: FlowMatchEulerDiscreteScheduler | None = None,
        vae: WanLatentSpace | None = None,
    ) -> None:
        self.model = model
        self.space = clip_space(model, vae)
        self.scheduler = scheduler or FlowMatchEulerDiscreteScheduler(shift=3.0)

    @torch.no_grad()
    def __call__(
        self,
        clips: torch.Tensor,
        rays: torch.Tensor,
        mode: Mode | str,
        task_ids: torch.Tensor | None = None,
        num_inference_steps: int = 20,
        guidance_scale: float = 1.0,
        generator: torch.Generator | None = None,
        text_embeddings: torch.Tensor | None = None,
        negative_text_embeddings: torch.Tensor | None = None,
        given_action_frames: int = 0,
    ) -> torch.Tensor:
        """`clips` (B, V, 2, F, H, W, 3) in [0, 1], read only where the mode gives frames;
        `rays` (B, V, h, w, 6) at the model's (latent) resolution. Conditioning: `task_ids`
        (0 = none), or `text_embeddings` with `negative_text_embeddings` for guidance.
        `given_action_frames` (policy mode): future action frames 1..n of `clips` are given too
        (real-time chunking, see `modes`). Returns the completed clips in [0, 1]; given frames
        come back exactly as they went in."""
        model, mode = self.model, Mode(mode)
        dtype = next(model.parameters()).dtype
        device = next(model.parameters()).device
        model.check(clips, pixels=True)
        clean = self.space.encode(clips.to(device)).to(dtype)
        batch, views, _, frames = clean.shape[:4]
        # A latent frame is given when all the pixel frames it encodes are.
        latent_given = given_action_frames // getattr(self.space, "temporal", 1)
        given = _frame_mask(given_mask(mode, frames, latent_given), clean)
        tasks = torch.zeros(batch, dtype=torch.long) if task_ids is None else task_ids
        tasks = tasks.to(device)
        if (
            guidance_scale != 1.0
            and text_embeddings is not None
            and (negative_text_embeddings is None)
        ):
            raise ValueError("guidance with text needs negative_text_embeddings")
        noise = torch.randn(clean.shape, generator=generator, dtype=dtype).to(device)
        sample = torch.where(given, clean, noise)
        rays = rays.to(device, dtype)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        frame_given = given[..., 0, 0, 0].expand(batch, views, 2, frames)
        for timestep in self.scheduler.timesteps:
            timesteps = torch.where(frame_given, torch.zeros_like(timestep), timestep).to(dtype)
            velocity = model(sample, timesteps, rays, tasks, text_embeddings)
            if guidance_scale != 1.0:
                unconditional = model(
                    sample, timesteps, rays, torch.zeros_like(tasks), negative_text_embeddings
                )
                velocity = unconditional + guidance_scale * (velocity - unconditional)
            sample = self.scheduler.step(velocity, timestep, sample).prev_sample
            sample = torch.where(given, clean, sample)
        result = self.space.decode(sample.float())
        pixel_given = _frame_mask(given_mask(mode, clips.shape[3], given_action_frames), clips)
        return torch.where(pixel_given, clips.to(device).float(), result)


def flow_matching_loss(
    model: VideoActionModel,
    clean: torch.Tensor,
    rays: torch.Tensor,
    task_ids: torch.Tensor,
    modes: list[Mode | str],
    generator: torch.Generator | None = None,
    text_embeddings: torch.Tensor | None = None,
    action_weight: float = 1.0,
) -> torch.Tensor:
    """Rectified-flow loss on the frames each sample's mode generates; `clean` is the clip in
    the model's space (`clip_space(model).encode(clips)`). Errors on action frames count
    `action_weight` times; the loss is normalised by the total weight. A model predicting
    samples is trained on the error of its sample (the velocity error times the noise level)."""
    model.check(clean)
    frames = clean.shape[3]
    given = torch.stack([given_mask(m, frames) for m in modes]).to(clean.device)
    supervised = torch.stack([supervised_mask(m, frames) for m in modes]).to(clean.device)
    level = torch.rand(clean.shape[0], generator=generator).to(clean.device, clean.dtype)
    level = level[:, None, None, None, None, None, None]
    noise = torch.randn(clean.shape, generator=generator).to(clean.device, clean.dtype)
    noisy = torch.where(_frame_mask(given, clean), clean, (1 - level) * clean + level * noise)
    frame_given = given[:, None].expand(-1, clean.shape[1], -1, -1)
    timesteps = torch.where(frame_given, 0.0, 1000 * level.view(-1, 1, 1, 1))
    velocity = model(noisy, timesteps.to(clean.dtype), rays, task_ids, text_embeddings)
    kind_weight = torch.tensor([1.0, action_weight], dtype=clean.dtype, device=clean.device)
    supervised = supervised.to(clean.dtype) * kind_weight[None, :, None]
    weight = _frame_mask(supervised, clean).expand_as(clean)
    total = weight.sum().clamp_min(1)
    if model.config.prediction == "sample":  # s^2 |v - v*|^2 = |x0 - x0*|^2: the sample's error
        weight = weight * level.clamp_min(MIN_LEVEL) ** 2
    error = (velocity - (noise - clean)) ** 2 * weight
    return error.sum() / total
