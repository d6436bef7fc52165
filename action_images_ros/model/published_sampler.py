"""The published sampler, made fast enough for closed loop: `sampler_config.json` of a model.

Published schedule: flow matching with noise levels s_i = shift * u / (1 + (shift - 1) * u) for
u = linspace(1, 0, N + 1)[:-1] (shift 5), a last step to 0, timesteps 1000 s, Euler steps
x <- x + v (s_next - s) with v = noise - x0; the given latents are written back after every
step. Guidance contrasts the prompt with the empty prompt (or the task with task 0).

What makes it faster, each a setting (`SamplerSettings`):
- `num_inference_steps` (the policy config's): the published 50 down to a few;
- `reuse_threshold`: when the last two evaluated velocities have a cosine similarity of at least
  this (the published code uses 0.95), the next step reuses the last velocity instead of running
  the transformer (never twice in a row); None evaluates every step;
- `batch_guidance`: the conditional and unconditional branches as one batch of 2B;
- `compile`: torch.compile of the denoiser's network (once, on first use);
- bf16 and SDPA come from the model: the loader's dtype (bfloat16 on CUDA) and diffusers'
  attention dispatch (PyTorch's scaled_dot_product_attention).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from action_images_ros.model.denoisers import Denoiser

SAMPLER_CONFIG = "sampler_config.json"
PUBLISHED_SHIFT = 5.0
PUBLISHED_REUSE = 0.95


@dataclass(frozen=True)
class SamplerSettings:
    """See the module docstring."""

    shift: float = PUBLISHED_SHIFT
    reuse_threshold: float | None = PUBLISHED_REUSE
    batch_guidance: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.shift, int | float) or self.shift <= 0:
            raise ValueError(f"shift must be a positive number, got {self.shift!r}")
        threshold = self.reuse_threshold
        if threshold is not None and not (isinstance(threshold, int | float) and threshold <= 1):
            raise ValueError(f"reuse_threshold must be None or at most 1, got {threshold!r}")
        for name in ("batch_guidance", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / SAMPLER_CONFIG
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def from_dict(cls, document: object, source: str = SAMPLER_CONFIG) -> SamplerSettings:
        """Settings from their JSON document; ValueError naming `source` when it is not one."""
        if not isinstance(document, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(document).__name__}")
        unknown = sorted(set(document) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{source}: unknown settings {unknown}")
        try:
            return cls(**document)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from error


def published_sigmas(steps: int, shift: float = PUBLISHED_SHIFT) -> torch.Tensor:
    """(steps + 1,) float64 noise levels from 1 down to the final 0 (see the module docstring)."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    u = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)[:-1]
    shifted = shift * u / (1 + (shift - 1) * u)
    return torch.cat([shifted, torch.zeros(1, dtype=torch.float64)])


@dataclass
class SamplingStats:
    """What the last sampling did: steps taken and transformer evaluations (a batched guidance
    call counts once)."""

    steps: int = 0
    evaluations: int = 0


def denoise(
    denoiser: Denoiser,
    settings: SamplerSettings,
    sample: torch.Tensor,
    clean: torch.Tensor,
    given: torch.Tensor,
    rays: torch.Tensor,
    task_ids: torch.Tensor,
    prompt_embeds: torch.Tensor | None,
    negative_prompt_embeds: torch.Tensor | None,
    num_inference_steps: int,
    guidance_scale: float,
    stats: SamplingStats | None = None,
) -> torch.Tensor:
    """The sampling loop (see the module docstring); `given` latents stay `clean`."""
    if settings.compile:
        compile_blocks(denoiser)
    stats = stats if stats is not None else SamplingStats()
    stats.steps, stats.evaluations = num_inference_steps, 0
    batch, views, _, frames = sample.shape[:4]
    frame_given = given[..., 0, 0, 0].expand(batch, views, 2, frames)
    sigmas = published_sigmas(num_inference_steps, settings.shift).tolist()
    guided = guidance_scale != 1.0
    previous: torch.Tensor | None = None
    reuse_next = False
    for level, next_level in zip(sigmas[:-1], sigmas[1:], strict=True):
        if reuse_next and previous is not None:
            velocity, reuse_next = previous, False
        else:
            timestep = torch.tensor(1000.0 * level, dtype=sample.dtype, device=sample.device)
            timesteps = torch.where(frame_given, torch.zeros_like(timestep), timestep)
            velocity = _velocity(
                denoiser,
                settings,
                sample,
                timesteps,
                rays,
                task_ids,
                prompt_embeds,
                negative_prompt_embeds,
                guidance_scale if guided else None,
            )
            stats.evaluations += 1
            if previous is not None and settings.reuse_threshold is not None:
                similarity = torch.nn.functional.cosine_similarity(
                    velocity.flatten(1).float(), previous.flatten(1).float(), dim=1
                )
                reuse_next = bool(similarity.min() >= settings.reuse_threshold)
            previous = velocity
        sample = sample + velocity * (next_level - level)
        sample = torch.where(given, clean, sample)
    return sample


def _velocity(
    denoiser: Denoiser,
    settings: SamplerSettings,
    sample: torch.Tensor,
    timesteps: torch.Tensor,
    rays: torch.Tensor,
    task_ids: torch.Tensor,
    prompt_embeds: torch.Tensor | None,
    negative_prompt_embeds: torch.Tensor | None,
    guidance_scale: float | None,
) -> torch.Tensor:
    if guidance_scale is None:
        return denoiser(sample, timesteps, rays, task_ids, prompt_embeds)
    unconditional_tasks = torch.zeros_like(task_ids)
    if settings.batch_guidance:
        text = None
        if prompt_embeds is not None:
            text = torch.cat([prompt_embeds, negative_prompt_embeds])
        both = denoiser(
            torch.cat([sample, sample]),
            torch.cat([timesteps, timesteps]),
            torch.cat([rays, rays]),
            torch.cat([task_ids, unconditional_tasks]),
            text,
        )
        conditional, unconditional = both.chunk(2)
    else:
        conditional = denoiser(sample, timesteps, rays, task_ids, prompt_embeds)
        unconditional = denoiser(
            sample, timesteps, rays, unconditional_tasks, negative_prompt_embeds
        )
    return unconditional + guidance_scale * (conditional - unconditional)


def compile_blocks(denoiser: Denoiser) -> None:
    """torch.compile the network of `denoiser` (its transformer and blocks) in place, once."""
    if getattr(denoiser, "_network_compiled", False):
        return
    denoiser.network = torch.compile(denoiser.network, dynamic=False)
    denoiser._network_compiled = True
