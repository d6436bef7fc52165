"""Sampling of the video-action model as a diffusers DiffusionPipeline (rectified flow).

A clip x0 (pixels in [-1, 1], or VAE latents, see `latent_space`) is noised as
x_t = (1 - s) x0 + s * noise for a noise level s in [0, 1] (timestep 1000 s); the denoiser
predicts the velocity noise - x0. Given frames are held clean with timestep 0; generated frames
are integrated from pure noise by the pipeline's scheduler (FlowMatchEulerDiscreteScheduler,
its shift in `scheduler/scheduler_config.json`). Classifier-free guidance contrasts the task
(or the prompt) with task 0 (or the empty prompt).

Stages of a call, each a method: `check_inputs`, `encode_prompt` (only with a text encoder),
`prepare_latents(latents=None)`, the denoiser's `camera_conditioning` (where it has one: the
published model's ray latents), `denoise` (the loop; `published_sampler`'s when `sampler` is
set), `decode_latents`. The components
(`denoiser`, `scheduler`, and optionally `vae`, `text_encoder`, `tokenizer`) are registered
modules: `save_pretrained` writes them with `model_index.json`; `loading.load_model_directory`
reads such a directory back (local files and safetensors only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from diffusers import AutoencoderKLWan, DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput

from action_images_ros.model.denoisers import Denoiser
from action_images_ros.model.latent_space import ClipSpace, WanLatentSpace, clip_space
from action_images_ros.model.modes import Mode, frame_mask, given_mask
from action_images_ros.model.published_sampler import SamplerSettings, SamplingStats
from action_images_ros.model.published_sampler import denoise as published_denoise
from action_images_ros.model.rays import plucker_rays
from action_images_ros.model.text_conditioning import TextEncoder

if TYPE_CHECKING:
    from action_images_ros.core.cameras import CameraRig

DEFAULT_SHIFT = 3.0  # the flow-matching shift the shipped models were sampled with


def default_scheduler() -> FlowMatchEulerDiscreteScheduler:
    return FlowMatchEulerDiscreteScheduler(shift=DEFAULT_SHIFT)


@dataclass
class VideoActionPipelineOutput(BaseOutput):
    """`clips` (B, V, 2, F, H, W, 3) in [0, 1]: the given frames exactly as they went in, the
    generated ones completed; `latents` the final sample in the denoiser's space."""

    clips: torch.Tensor
    latents: torch.Tensor


class VideoActionPipeline(DiffusionPipeline):
    """Generates the frames a mode leaves open, deterministically for a generator's seed."""

    model_cpu_offload_seq = "text_encoder->denoiser->vae"
    _optional_components = ["vae", "text_encoder", "tokenizer"]

    def __init__(
        self,
        denoiser: Denoiser,
        scheduler: FlowMatchEulerDiscreteScheduler,
        vae: AutoencoderKLWan | None = None,
        text_encoder: torch.nn.Module | None = None,
        tokenizer: object | None = None,
    ) -> None:
        super().__init__()
        if (text_encoder is None) != (tokenizer is None):
            raise ValueError("a text encoder needs its tokenizer and the other way round")
        self.register_modules(
            denoiser=denoiser,
            scheduler=scheduler,
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
        )
        self.space: ClipSpace = clip_space(denoiser, None if vae is None else WanLatentSpace(vae))
        self.text = None if text_encoder is None else TextEncoder(tokenizer, text_encoder)
        # The published sampler (`published_sampler`, a model's sampler_config.json) instead of
        # the scheduler's loop when set; `last_sampling` tells what the last call did.
        self.sampler: SamplerSettings | None = None
        self.last_sampling = SamplingStats()

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        device: str | torch.device = "cpu",
        torch_dtype: torch.dtype | None = None,
    ) -> VideoActionPipeline:
        """The pipeline of a local model directory, every file checked (`loading`; its policy
        config comes with `loading.load_model_directory`)."""
        from action_images_ros.model.loading import load_model_directory

        return load_model_directory(pretrained_model_name_or_path, device, torch_dtype).pipeline

    def check_inputs(
        self,
        clips: torch.Tensor,
        rays: torch.Tensor,
        mode: Mode,
        task_ids: torch.Tensor | None,
        prompt: list[str] | None,
        prompt_embeds: torch.Tensor | None,
        negative_prompt_embeds: torch.Tensor | None,
        guidance_scale: float,
    ) -> None:
        """Shapes and conditioning that fit the denoiser; raises ValueError naming what not."""
        self.denoiser.check(clips, pixels=True)
        batch, views = clips.shape[:2]
        height, width = self.ray_size
        if tuple(rays.shape) != (batch, views, height, width, 6):
            raise ValueError(
                f"rays must be ({batch}, {views}, {height}, {width}, 6) for these clips at the "
                f"model's {self.ray_resolution} resolution, got {tuple(rays.shape)}"
            )
        if task_ids is not None and tuple(task_ids.shape) != (batch,):
            raise ValueError(f"task_ids must be ({batch},), got {tuple(task_ids.shape)}")
        if task_ids is not None and (task_ids.min() < 0 or task_ids.max() >= self.task_slots):
            raise ValueError(f"task ids must be in [0, {self.task_slots}), got {task_ids}")
        if prompt is not None and self.text is None:
            raise ValueError("a prompt needs a text encoder (text_encoder/ and tokenizer/)")
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("give a prompt or prompt_embeds, not both")
        if guidance_scale != 1.0 and prompt_embeds is not None and negative_prompt_embeds is None:
            raise ValueError("guidance with prompt_embeds needs negative_prompt_embeds")

    @property
    def ray_resolution(self) -> str:
        """Where the denoiser takes its rays: at every "pixel" or every "latent" cell."""
        return "pixel" if getattr(self.denoiser, "rays_in_pixels", False) else "latent"

    @property
    def ray_size(self) -> tuple[int, int]:
        """(height, width) of the rays the pipeline takes (`ray_resolution`)."""
        if self.ray_resolution == "pixel":
            return int(self.denoiser.config.height), int(self.denoiser.config.width)
        _, height, width, _ = self.denoiser.latent_shape
        return height, width

    def camera_rays(self, rig: CameraRig) -> torch.Tensor:
        """(1, V, h, w, 6) rays of `rig` (at the model's size) as this denoiser takes them: its
        own `camera_rays` (the published model's), else Plücker rays in the base frame."""
        own = getattr(self.denoiser, "camera_rays", None)
        return own(rig) if own is not None else plucker_rays(rig, *self.ray_size)[None]

    @property
    def task_slots(self) -> int:
        """How many task ids the denoiser embeds (id 0 = no task)."""
        return int(self.denoiser.config.num_tasks)

    def encode_prompt(
        self, prompt: list[str], negative_prompt: list[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Text embeddings of `prompt` and `negative_prompt` (default: empty prompts), each
        distinct prompt encoded once per pipeline."""
        if self.text is None:
            raise ValueError("this pipeline has no text encoder")
        negative_prompt = negative_prompt or [""] * len(prompt)
        return self.text(list(prompt)), self.text(list(negative_prompt))

    def prepare_latents(
        self,
        clean: torch.Tensor,
        given: torch.Tensor,
        generator: torch.Generator | None,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The starting sample: `clean` where `given`, else `latents` (the initial noise in the
        denoiser's space) or noise drawn from `generator`."""
        if latents is None:
            latents = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
        elif latents.shape != clean.shape:
            raise ValueError(
                f"latents must be {tuple(clean.shape)} (the clips in the denoiser's space), "
                f"got {tuple(latents.shape)}"
            )
        return torch.where(given, clean, latents.to(clean.device, clean.dtype))

    def denoise(
        self,
        sample: torch.Tensor,
        clean: torch.Tensor,
        given: torch.Tensor,
        rays: torch.Tensor,
        task_ids: torch.Tensor,
        prompt_embeds: torch.Tensor | None,
        negative_prompt_embeds: torch.Tensor | None,
        num_inference_steps: int,
        guidance_scale: float,
    ) -> torch.Tensor:
        """The denoising loop: the scheduler's steps (or the published sampler's, with
        `sampler` set), given frames held clean throughout."""
        if self.sampler is not None:
            return published_denoise(
                self.denoiser,
                self.sampler,
                sample,
                clean,
                given,
                rays,
                task_ids,
                prompt_embeds,
                negative_prompt_embeds,
                num_inference_steps,
                guidance_scale,
                self.last_sampling,
            )
        batch, views, _, frames = sample.shape[:4]
        self.scheduler.set_timesteps(num_inference_steps, device=sample.device)
        frame_given = given[..., 0, 0, 0].expand(batch, views, 2, frames)
        for timestep in self.scheduler.timesteps:
            timesteps = torch.where(frame_given, torch.zeros_like(timestep), timestep)
            timesteps = timesteps.to(sample.dtype)
            velocity = self.denoiser(sample, timesteps, rays, task_ids, prompt_embeds)
            if guidance_scale != 1.0:
                unconditional = self.denoiser(
                    sample, timesteps, rays, torch.zeros_like(task_ids), negative_prompt_embeds
                )
                velocity = unconditional + guidance_scale * (velocity - unconditional)
            sample = self.scheduler.step(velocity, timestep, sample).prev_sample
            sample = torch.where(given, clean, sample)
        return sample

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, V, 2, f, h, w, C) in the denoiser's space -> pixel clips in [0, 1]."""
        return self.space.decode(latents.float())

    @torch.no_grad()
    def __call__(
        self,
        *,
        clips: torch.Tensor,
        rays: torch.Tensor,
        mode: Mode | str,
        task_ids: torch.Tensor | None = None,
        prompt: list[str] | None = None,
        negative_prompt: list[str] | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        num_inference_steps: int = 20,
        guidance_scale: float = 1.0,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        given_action_frames: int = 0,
        return_dict: bool = True,
    ) -> VideoActionPipelineOutput | tuple[torch.Tensor, torch.Tensor]:
        """Complete `clips` (B, V, 2, F, H, W, 3) in [0, 1], read only where `mode` gives
        frames; `rays` (B, V, h, w, 6) at the denoiser's `ray_size` (`camera_rays`). Conditioning:
        `task_ids` (0 = none), or a `prompt` (with a text encoder) or `prompt_embeds`, with
        their negatives for guidance. `latents`: the initial noise (else drawn from
        `generator`). `given_action_frames` (policy mode): future action frames 1..n of
        `clips` are given too (real-time chunking, see `modes`)."""
        mode = Mode(mode)
        self.check_inputs(
            clips,
            rays,
            mode,
            task_ids,
            prompt,
            prompt_embeds,
            negative_prompt_embeds,
            guidance_scale,
        )
        dtype, device = self.denoiser.dtype, self.denoiser.device
        if prompt is not None:
            prompt_embeds, negative_prompt_embeds = self.encode_prompt(prompt, negative_prompt)
        clean = self.space.encode(clips.to(device)).to(dtype)
        batch, _, _, frames = clean.shape[:4]
        # A latent frame is given when all the pixel frames it encodes are.
        latent_given = given_action_frames // getattr(self.space, "temporal", 1)
        given = frame_mask(given_mask(mode, frames, latent_given), clean)
        tasks = torch.zeros(batch, dtype=torch.long) if task_ids is None else task_ids
        sample = self.prepare_latents(clean, given, generator, latents)
        rays = rays.to(device, dtype)
        encode_cameras = getattr(self.denoiser, "camera_conditioning", None)
        if encode_cameras is not None:  # the published model: ray latents through the VAE
            rays = encode_cameras(rays, self.space)
        sample = self.denoise(
            sample,
            clean,
            given,
            rays,
            tasks.to(device),
            prompt_embeds,
            negative_prompt_embeds,
            num_inference_steps,
            guidance_scale,
        )
        result = self.decode_latents(sample)
        pixel_given = frame_mask(given_mask(mode, clips.shape[3], given_action_frames), clips)
        result = torch.where(pixel_given, clips.to(device).float(), result)
        if not return_dict:
            return result, sample
        return VideoActionPipelineOutput(clips=result, latents=sample)
