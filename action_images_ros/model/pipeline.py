"""Sampling and the training objective of the video-action model (rectified flow).

A clip x0 in [-1, 1] is noised as x_t = (1 - s) x0 + s * noise for a noise level s in [0, 1]
(timestep 1000 s); the model predicts the velocity noise - x0. Given frames are held clean with
timestep 0; generated frames are integrated from pure noise by diffusers'
FlowMatchEulerDiscreteScheduler. Classifier-free guidance contrasts the task with task 0.
"""

from __future__ import annotations

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from action_images_ros.model.modes import Mode, given_mask, supervised_mask
from action_images_ros.model.video_action_model import VideoActionModel


def _frame_mask(mask: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """(2, F) or (B, 2, F) -> broadcastable over (B, V, 2, F, H, W, 3)."""
    if mask.ndim == 2:
        mask = mask[None]
    return mask[:, None, :, :, None, None, None].to(clips.device)


class VideoActionPipeline:
    """Generates the frames a mode leaves open, deterministically for a generator's seed."""

    def __init__(
        self, model: VideoActionModel, scheduler: FlowMatchEulerDiscreteScheduler | None = None
    ) -> None:
        self.model = model
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
    ) -> torch.Tensor:
        """`clips` (B, V, 2, F, H, W, 3) in [0, 1], read only where the mode gives frames.
        Returns the completed clips in [0, 1]; given frames come back exactly as they went in."""
        model = self.model
        model.check(clips)
        dtype = next(model.parameters()).dtype
        device = next(model.parameters()).device
        clean = (clips.to(device, dtype) * 2 - 1).clamp(-1, 1)
        given = _frame_mask(given_mask(mode, clips.shape[3]), clean)
        batch = clips.shape[0]
        tasks = torch.zeros(batch, dtype=torch.long) if task_ids is None else task_ids
        tasks = tasks.to(device)
        noise = torch.randn(clean.shape, generator=generator, dtype=dtype).to(device)
        sample = torch.where(given, clean, noise)
        rays = rays.to(device, dtype)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        frame_given = given[..., 0, 0, 0].expand(batch, clips.shape[1], 2, clips.shape[3])
        for timestep in self.scheduler.timesteps:
            timesteps = torch.where(frame_given, torch.zeros_like(timestep), timestep).to(dtype)
            velocity = model(sample, timesteps, rays, tasks)
            if guidance_scale != 1.0:
                unconditional = model(sample, timesteps, rays, torch.zeros_like(tasks))
                velocity = unconditional + guidance_scale * (velocity - unconditional)
            sample = self.scheduler.step(velocity, timestep, sample).prev_sample
            sample = torch.where(given, clean, sample)
        result = (sample.float() + 1) / 2
        return torch.where(given, clips.to(device).float(), result.clamp(0, 1))


def flow_matching_loss(
    model: VideoActionModel,
    clips: torch.Tensor,
    rays: torch.Tensor,
    task_ids: torch.Tensor,
    modes: list[Mode | str],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rectified-flow loss on the frames each sample's mode generates; `clips` in [0, 1]."""
    model.check(clips)
    clean = clips * 2 - 1
    frames = clips.shape[3]
    given = torch.stack([given_mask(m, frames) for m in modes]).to(clips.device)
    supervised = torch.stack([supervised_mask(m, frames) for m in modes]).to(clips.device)
    level = torch.rand(clips.shape[0], generator=generator).to(clips.device, clips.dtype)
    level = level[:, None, None, None, None, None, None]
    noise = torch.randn(clips.shape, generator=generator).to(clips.device, clips.dtype)
    noisy = torch.where(_frame_mask(given, clean), clean, (1 - level) * clean + level * noise)
    frame_given = given[:, None].expand(-1, clips.shape[1], -1, -1)
    timesteps = torch.where(frame_given, 0.0, 1000 * level.view(-1, 1, 1, 1))
    velocity = model(noisy, timesteps.to(clips.dtype), rays, task_ids)
    weight = _frame_mask(supervised, clean).to(clean.dtype).expand_as(clean)
    error = (velocity - (noise - clean)) ** 2 * weight
    return error.sum() / weight.sum().clamp_min(1)
