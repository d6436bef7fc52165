"""Shared by the model tests: toy training episodes (two views, random frames, a line path) and
the check that training reduces the loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from action_images_ros.data.episode import Episode, write_episode
from action_images_ros.model.denoisers import Denoiser
from action_images_ros.model.modes import Mode
from action_images_ros.model.objective import flow_matching_loss


def write_toy_episodes(directory: Path, count: int = 2, steps: int = 8) -> Path:
    rng = np.random.default_rng(0)
    k = np.array([[40.0, 0, 23.5], [0, 40.0, 23.5], [0, 0, 1]])
    poses = np.stack([np.eye(4), np.eye(4)])
    poses[1, :3, 3] = [0.3, 0.0, 0.0]
    for index in range(count):
        positions = np.column_stack(
            [np.linspace(-0.1, 0.1, steps), np.zeros(steps), np.ones(steps)]
        )
        write_episode(
            directory / f"ep{index}",
            Episode(
                cameras=["a", "b"],
                fps=5.0,
                intrinsics=np.stack([k, k]),
                extrinsics=poses,
                rgb=rng.integers(0, 256, (steps, 2, 48, 48, 3), dtype=np.uint8),
                action_images=np.zeros((steps, 2, 48, 48, 3), np.uint8),
                timestamps=np.arange(steps) / 5.0,
                positions=positions,
                quaternions=np.tile([0, 0, 0, 1.0], (steps, 1)),
                gripper=np.ones(steps),
                meta={"task": ["reach", "pick"][index % 2]},
            ),
        )
    return directory


def assert_training_reduces_the_loss(
    model: Denoiser,
    clean: torch.Tensor,
    rays: torch.Tensor,
    tasks: torch.Tensor,
    modes: list[Mode],
    steps: int = 30,
    lr: float = 3e-3,
) -> None:
    """A few optimizer steps on one batch cut its loss (same noise before and after) by 20 %."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)

    def held_out() -> float:
        with torch.no_grad():
            generator = torch.Generator().manual_seed(123)
            return flow_matching_loss(model, clean, rays, tasks, modes, generator).item()

    before, generator = held_out(), torch.Generator().manual_seed(0)
    for _ in range(steps):
        loss = flow_matching_loss(model, clean, rays, tasks, modes, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert held_out() < 0.8 * before


def write_toy_vae(path: Path, z_dim: int = 4, spatial: int = 16) -> Path:
    """`path`/vae: a Wan 2.2 VAE of the real structure at toy width, random weights."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    AutoencoderKLWan(
        base_dim=8,
        z_dim=z_dim,
        dim_mult=[1, 2, 2, 2],
        num_res_blocks=1,
        is_residual=True,
        patch_size=2,
        in_channels=12,
        out_channels=12,
        scale_factor_spatial=spatial,
        scale_factor_temporal=4,
        latents_mean=[0.1] * z_dim,
        latents_std=[2.0] * z_dim,
    ).save_pretrained(path / "vae")
    return path


def write_toy_text_encoder(path: Path, dim: int = 16) -> Path:
    """`path`/tokenizer and `path`/text_encoder: a word-level tokenizer and a 1-layer T5
    encoder of width `dim`, random weights (built offline)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    words = ["<pad>", "</s>", "<unk>", "reach", "pick", "the", "target", "up", "cube"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, "<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    ).save_pretrained(path / "tokenizer")
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(words),
        d_model=dim,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        decoder_start_token_id=0,
    )
    T5EncoderModel(config).save_pretrained(path / "text_encoder")
    return path
