"""The Wan 2.2 TI2V-5B layout at toy size: a local diffusers directory (transformer + VAE with
Wan 2.2's patchified 16x VAE, and a T5 text encoder) loaded, trained with LoRA, deployed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from model_fixtures import (
    assert_training_reduces_the_loss,
    write_toy_episodes,
    write_toy_text_encoder,
    write_toy_vae,
)

from action_images_ros.core.cameras import CameraRig
from action_images_ros.model.denoisers import ModelShapeError
from action_images_ros.model.latent_space import WanLatentSpace, clip_space
from action_images_ros.model.modes import Mode, given_mask
from action_images_ros.model.pipeline import VideoActionPipeline, default_scheduler
from action_images_ros.model.rays import plucker_rays
from action_images_ros.model.wan_transformer import WanTransformerDenoiser

VIEWS, FRAMES, SIZE, Z = 2, 5, 32, 4  # 5 frames -> 2 latent frames, 32 px -> 2 x 2 cells


def write_backbone(path: Path, text_dim: int = 16) -> Path:
    """A toy Wan 2.2 TI2V directory: same structure as the 5B one, random weights."""
    write_toy_vae(path, Z)
    WanTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=Z,
        out_channels=Z,
        text_dim=text_dim,
        freq_dim=32,
        ffn_dim=32,
        num_layers=1,
    ).save_pretrained(path / "transformer")
    return path


def rig() -> CameraRig:
    k = np.array([[60.0, 0, 31.5], [0, 60.0, 31.5], [0, 0, 1]])
    second = np.eye(4)
    second[0, 3] = 0.4
    return CameraRig.from_arrays([k, k], [np.eye(4), second], 64, 64, dtype=torch.float32)


def latent_rays(batch: int = 1) -> torch.Tensor:
    return plucker_rays(rig(), SIZE // 16, SIZE // 16)[None].expand(batch, -1, -1, -1, -1)


def clips(batch: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(batch, VIEWS, 2, FRAMES, SIZE, SIZE, 3, generator=generator)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_backbone(tmp_path_factory.mktemp("wan"))


def test_backbone_loads_with_zero_initialised_condition_channels(backbone: Path) -> None:
    model = WanTransformerDenoiser.from_wan_backbone(backbone, VIEWS, FRAMES, SIZE, SIZE)
    assert model.latent_shape == (2, 2, 2, Z) and not model.in_pixel_space
    reference = WanTransformer3DModel.from_pretrained(backbone / "transformer")
    latents = torch.randn(1, VIEWS, 2, 2, 2, 2, Z)
    timesteps = torch.full((1, VIEWS, 2, 2), 400.0)
    context = torch.randn(1, 3, 16)
    with torch.no_grad():
        ours = model(latents, timesteps, latent_rays(), torch.tensor([0]), context)
        hidden = latents.permute(0, 6, 1, 2, 3, 4, 5).reshape(1, Z, VIEWS * 2 * 2, 2, 2)
        theirs = reference(hidden, timesteps.reshape(1, -1).repeat_interleave(1, 1), context)[0]
    theirs = theirs.reshape(1, Z, VIEWS, 2, 2, 2, 2).permute(0, 2, 3, 4, 5, 6, 1)
    torch.testing.assert_close(ours, theirs)


def test_latent_pipeline_keeps_given_frames_in_every_mode(backbone: Path) -> None:
    model = WanTransformerDenoiser.from_wan_backbone(backbone, VIEWS, FRAMES, SIZE, SIZE)
    vae = AutoencoderKLWan.from_pretrained(backbone / "vae")
    pipeline = VideoActionPipeline(denoiser=model, scheduler=default_scheduler(), vae=vae)
    inputs = clips()
    for mode in Mode:
        out, again = (
            pipeline(
                clips=inputs,
                rays=latent_rays(),
                mode=mode,
                num_inference_steps=2,
                generator=torch.Generator().manual_seed(3),
            ).clips
            for _ in range(2)
        )
        assert out.shape == inputs.shape and out.min() >= 0 and out.max() <= 1
        assert torch.equal(out, again), "deterministic for a seed"
        given = given_mask(mode, FRAMES)
        for kind in range(2):
            for frame in range(FRAMES):
                same = torch.equal(out[:, :, kind, frame], inputs[:, :, kind, frame])
                assert same == bool(given[kind, frame]), (mode, kind, frame)


def test_segments_decode_the_same_in_one_pass_or_several_and_tiled(backbone: Path) -> None:
    vae = AutoencoderKLWan.from_pretrained(backbone / "vae")
    whole = WanLatentSpace(vae, segments_per_pass=8)
    latents = whole.encode(clips())
    assert latents.shape == (1, VIEWS, 2, 2, 2, 2, Z)
    one_pass = whole.decode(latents)
    torch.testing.assert_close(WanLatentSpace(vae, segments_per_pass=1).decode(latents), one_pass)
    large = torch.rand(1, 1, 2, FRAMES, 64, 64, 3, generator=torch.Generator().manual_seed(1))
    tiled = WanLatentSpace(vae, tile_size=32)
    untiled = WanLatentSpace(AutoencoderKLWan.from_pretrained(backbone / "vae"), tile_size=256)
    z = untiled.encode(large)
    decoded = tiled.decode(z)
    assert decoded.shape == large.shape and torch.isfinite(decoded).all()
    assert not torch.equal(decoded, untiled.decode(z)), "frames above a tile go tile by tile"
    torch.testing.assert_close(tiled.decode(latents), one_pass)  # below a tile: one piece


def test_latent_models_refuse_what_does_not_fit(backbone: Path, tmp_path: Path) -> None:
    model = WanTransformerDenoiser.from_wan_backbone(backbone, VIEWS, FRAMES, SIZE, SIZE)
    with pytest.raises(ValueError, match="pass the VAE it was trained with"):
        VideoActionPipeline(denoiser=model, scheduler=default_scheduler())
    with pytest.raises(ValueError, match="does not fit the model"):
        clip_space(
            model,
            WanLatentSpace(
                AutoencoderKLWan(z_dim=Z + 1, latents_mean=[0.0] * 5, latents_std=[1.0] * 5)
            ),
        )
    with pytest.raises(ModelShapeError, match="1 \\+ a multiple of 4"):
        WanTransformerDenoiser.from_wan_backbone(backbone, VIEWS, 4, SIZE, SIZE)
    with pytest.raises(ModelShapeError, match="clips must be"):
        VideoActionPipeline(
            denoiser=model,
            scheduler=default_scheduler(),
            vae=AutoencoderKLWan.from_pretrained(backbone / "vae"),
        )(clips=clips()[:, :, :, :3], rays=latent_rays(), mode=Mode.POLICY)
    with pytest.raises(FileNotFoundError, match="transformer/config.json"):
        WanTransformerDenoiser.from_wan_backbone(tmp_path, VIEWS, FRAMES, SIZE, SIZE)
    with pytest.raises(FileNotFoundError, match="vae/config.json"):
        WanLatentSpace.from_pretrained(tmp_path)


def test_latent_training_step_reduces_the_loss(backbone: Path) -> None:
    model = WanTransformerDenoiser.from_wan_backbone(backbone, VIEWS, FRAMES, SIZE, SIZE)
    space = clip_space(model, WanLatentSpace.from_pretrained(backbone))
    clean = space.encode(clips(2))
    modes = [Mode.POLICY, Mode.ACTION_LABELING]
    assert_training_reduces_the_loss(model, clean, latent_rays(2), torch.tensor([1, 2]), modes)


def test_text_encoder_encodes_each_prompt_once_and_zeroes_padding(tmp_path: Path) -> None:
    from action_images_ros.model.text_conditioning import TextEncoder

    encoder = TextEncoder.from_pretrained(write_toy_text_encoder(tmp_path), max_length=8)
    embeddings = encoder(["reach the target", "pick up the cube", "reach the target"])
    assert embeddings.shape == (3, 8, 16)
    torch.testing.assert_close(embeddings[0], embeddings[2])
    assert not torch.allclose(embeddings[0], embeddings[1])
    assert embeddings[0, 4:].abs().max() == 0, "3 words + </s>, then padding"
    assert len(encoder._cache) == 2
    with pytest.raises(FileNotFoundError, match="no text encoder"):
        TextEncoder.from_pretrained(tmp_path / "nothing")


def test_lora_fine_tuning_of_a_backbone_deploys_as_a_policy(tmp_path: Path) -> None:
    """train --backbone --lora-rank --text-encoder, resume, then load the result as a policy
    and as a labeler (with its VAE: a latent model labels too)."""
    from action_images_ros.core.policy import Observation
    from action_images_ros.model.labeling import ModelLabeler
    from action_images_ros.model.loading import load_model_directory
    from action_images_ros.model.policy import VideoActionPolicy
    from action_images_ros.model.train import main

    backbone = write_backbone(tmp_path / "wan")
    write_toy_text_encoder(tmp_path / "wan")
    episodes = write_toy_episodes(tmp_path / "episodes", count=2, steps=12)
    args = [
        "--backbone",
        str(backbone),
        "--frames",
        str(FRAMES),
        "--size",
        str(SIZE),
        "--views",
        str(VIEWS),
        "--lora-rank",
        "2",
        "--text-encoder",
        str(backbone),
        "--episodes",
        str(episodes),
        "--out",
        str(tmp_path / "run"),
        "--batch-size",
        "2",
        "--checkpoint-every",
        "2",
    ]
    main([*args, "--steps", "2"])
    assert (tmp_path / "run" / "checkpoint-2" / "lora_adapter.safetensors").exists()
    main([*args, "--steps", "3", "--resume"])
    state = json.loads((tmp_path / "run" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["step"] == 3 and len(state["losses"]) == 3
    model_dir = tmp_path / "run" / "model"
    parts = (
        "vae/config.json",
        "text_encoder/config.json",
        "tokenizer",
        "policy_config.json",
        "model_index.json",
        "scheduler/scheduler_config.json",
    )
    for part in parts:
        assert (model_dir / part).exists(), part
    assert not list(model_dir.rglob("*.bin")), "safetensors only"
    policy = VideoActionPolicy.from_pretrained(
        model_dir, num_inference_steps=2, task="reach the target"
    )
    assert policy.text is not None and not policy.model.in_pixel_space
    k = np.array([[60.0, 0, 31.5], [0, 60.0, 31.5], [0, 0, 1]])
    second = np.eye(4)
    second[0, 3] = 0.4
    chunk = policy.predict(
        Observation(
            stamp=0.0,
            images=np.zeros((2, 64, 64, 3), np.uint8),
            intrinsics=np.stack([k, k]),
            extrinsics=np.stack([np.eye(4), second]),
            joint_positions=np.zeros(7),
            ee_position=np.array([0.2, 0.0, 1.0]),
            ee_quaternion=np.array([0, 0, 0, 1.0]),
            gripper_openness=1.0,
        )
    )
    assert len(chunk) == FRAMES - 1
    bundle = load_model_directory(model_dir)
    assert bundle.config.views == ("a", "b") and bundle.config.tasks[1:] == ("pick", "reach")
    window = ModelLabeler(bundle, num_inference_steps=1).label(
        np.zeros((FRAMES, 2, 64, 64, 3), np.uint8), np.stack([k, k]), np.stack([np.eye(4), second])
    )
    assert window.positions.shape == (FRAMES, 3)


def test_latent_model_directories_with_a_missing_or_other_vae_are_refused(
    backbone: Path, tmp_path: Path
) -> None:
    import shutil

    from action_images_ros.model.loading import (
        ModelDirectoryError,
        create_model,
        load_model_directory,
    )

    model = WanTransformerDenoiser.from_wan_backbone(backbone, VIEWS, FRAMES, SIZE, SIZE)
    vae = AutoencoderKLWan.from_pretrained(backbone / "vae")
    saved = create_model(model, vae=vae).save(tmp_path / "m")
    missing = shutil.copytree(saved, tmp_path / "no_vae")
    shutil.rmtree(missing / "vae")
    index = json.loads((missing / "model_index.json").read_text())
    (missing / "model_index.json").write_text(json.dumps({**index, "vae": [None, None]}))
    with pytest.raises(ModelDirectoryError, match="no_vae: .*pass the VAE it was trained with"):
        load_model_directory(missing)
    other = shutil.copytree(saved, tmp_path / "other_vae")
    shutil.rmtree(other / "vae")
    AutoencoderKLWan(
        base_dim=8,
        z_dim=Z + 1,
        dim_mult=[1, 2, 2, 2],
        num_res_blocks=1,
        is_residual=True,
        patch_size=2,
        in_channels=12,
        out_channels=12,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        latents_mean=[0.0] * (Z + 1),
        latents_std=[1.0] * (Z + 1),
    ).save_pretrained(other / "vae")
    with pytest.raises(ModelDirectoryError, match=r"other_vae: the VAE \(5 channels.*does not fit"):
        load_model_directory(other)
