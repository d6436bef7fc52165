"""The released Action Images model: a tiny model of the published structure saved as the
published code saves it (torch.save of the state dict) is imported, loaded as a model directory
and computes what a plain implementation of the published DiT computes; the full-size 945-tensor
layout has a place for every tensor; the sampler, the rays and the policy run it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from published_fixtures import PublishedDiT, randomise_cameras, write_base

from action_images_ros.core.cameras import CameraRig
from action_images_ros.model.import_checkpoint import (
    import_checkpoint,
    infer_config,
    plan_import,
    released_policy,
)
from action_images_ros.model.loading import load_model_directory
from action_images_ros.model.policy_config import ModelDirectoryError
from action_images_ros.model.published_sampler import (
    SamplerSettings,
    SamplingStats,
    denoise,
    published_sigmas,
)
from action_images_ros.model.published_transformer import RELEASED_CONFIG, published_rays
from action_images_ros.model.views import resize_views

VIEWS, FRAMES, SIZE, Z, TEXT = 2, 5, 64, 4, 16  # 5 frames -> 2 latent frames of 4 x 4 cells
TINY = dict(dim=32, heads=2, ffn=48, layers=2, channels=Z, text_dim=TEXT, freq_dim=32, pool=2)


@pytest.fixture(scope="module")
def reference() -> PublishedDiT:
    torch.manual_seed(0)
    return randomise_cameras(PublishedDiT(**TINY)).eval()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_base(tmp_path_factory.mktemp("wan22"), z_dim=Z, text_dim=TEXT)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, reference: PublishedDiT, base: Path) -> Path:
    folder = tmp_path_factory.mktemp("released")
    torch.save(reference.state_dict(), folder / "step.ckpt")
    policy = released_policy(["front", "side"], num_inference_steps=4, frames=FRAMES, size=SIZE)
    return import_checkpoint(
        folder / "step.ckpt",
        base,
        folder / "model",
        policy,
        attention_head_dim=16,
        shard_size=20_000,
    )


def test_full_size_layout_has_a_place_for_every_released_tensor() -> None:
    with torch.device("meta"):
        full = PublishedDiT(
            dim=3072,
            heads=24,
            ffn=14336,
            layers=30,
            channels=48,
            text_dim=4096,
            freq_dim=256,
            pool=16,
        )
    shapes = {k: tuple(v.shape) for k, v in full.state_dict().items()}
    assert len(shapes) == 945
    assert sum(v.numel() for v in full.state_dict().values()) / 1e9 == pytest.approx(6.42, abs=0.01)
    assert sum(".cam_encoder.2." in k or ".projector." in k for k in shapes) == 120
    config = infer_config(shapes)
    assert config == RELEASED_CONFIG
    plan = plan_import(shapes, config)
    assert sorted(plan.values()) == sorted(shapes)
    assert plan["transformer.blocks.7.attn2.to_out.0.weight"] == "blocks.7.cross_attn.o.weight"
    assert plan["transformer.blocks.3.norm2.bias"] == "blocks.3.norm3.bias"
    assert plan["transformer.blocks.29.cam_encoder.2.weight"] == "blocks.29.cam_encoder.2.weight"
    assert plan["transformer.proj_out.weight"] == "head.head.weight"


def test_imported_model_computes_the_published_dit(imported: Path, reference: PublishedDiT) -> None:
    denoiser = load_model_directory(imported).denoiser
    assert len(list((imported / "denoiser").glob("*.safetensors"))) > 1  # sharded
    generator = torch.Generator().manual_seed(3)
    f, h = 2, SIZE // 16
    clips = torch.randn(2, VIEWS, 2, f, h, h, Z, generator=generator)
    cameras = torch.randn(2, VIEWS, f, h, h, 2 * Z, generator=generator)
    context = torch.randn(2, 7, TEXT, generator=generator)
    levels = torch.tensor([700.0, 250.0])
    timesteps = levels[:, None, None, None].expand(2, VIEWS, 2, f).clone()
    timesteps[:, :, :, 0] = 0.0  # given frames: the published model still shares one timestep
    with torch.no_grad():
        ours = denoiser.network(clips, timesteps, cameras, context)
        # The published layout written out: [v1 rgb | v1 action | v2 rgb | v2 action] along time,
        # each view's camera latents with both of its segments.
        segments = [clips[:, v, k] for v in range(VIEWS) for k in range(2)]
        hidden = torch.cat(segments, dim=1).permute(0, 4, 1, 2, 3)
        camera_video = torch.cat([cameras[:, v] for v in range(VIEWS) for _ in range(2)], dim=1)
        expected = reference(hidden, levels, context, camera_video.permute(0, 1, 4, 2, 3))
    expected = expected.permute(0, 2, 3, 4, 1).reshape(2, VIEWS, 2, f, h, h, Z)
    assert ours.abs().max() > 0.1
    torch.testing.assert_close(ours, expected, atol=2e-5, rtol=1e-4)
    # The camera path matters: other camera latents, other velocity.
    with torch.no_grad():
        moved = denoiser.network(clips, timesteps, cameras.flip(1), context)
    assert (moved - ours).abs().max() > 1e-3


def test_published_sigmas() -> None:
    sigmas = published_sigmas(50)
    u = torch.linspace(1, 0, 51, dtype=torch.float64)[:-1]
    torch.testing.assert_close(sigmas[:-1], 5 * u / (1 + 4 * u))
    assert sigmas[0] == 1.0 and sigmas[-1] == 0.0 and len(sigmas) == 51
    assert (sigmas.diff() < 0).all()


def rig() -> CameraRig:
    k = np.array([[70.0, 0, 31.5], [0, 70.0, 31.5], [0, 0, 1]])
    first, second = np.eye(4), np.eye(4)
    first[:3, 3] = [0.2, -0.1, 0.5]
    second[:3, :3] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]
    second[:3, 3] = [0.6, 0.0, 0.4]
    return CameraRig.from_arrays([k, k], [first, second], SIZE, SIZE)


def test_published_rays_are_relative_to_the_first_view() -> None:
    rays = published_rays(rig(), SIZE, SIZE).double()
    assert rays.shape == (2, SIZE, SIZE, 6)
    assert rays[0, ..., 3:].abs().max() < 1e-6  # the conditioning view sits at the origin
    torch.testing.assert_close(
        rays[0, 0, 0, :3],
        torch.tensor([-31.5, -31.5, 70.0]).double() / np.sqrt(31.5**2 * 2 + 70**2),
        atol=1e-6,
        rtol=0,
    )
    poses = rig().extrinsics
    relative = torch.linalg.inv(poses[0]) @ poses[1]
    direction = rays[1, 10, 40, :3]
    expected = relative[:3, :3] @ torch.tensor([(40 - 31.5) / 70, (10 - 31.5) / 70, 1.0]).double()
    torch.testing.assert_close(direction, expected / expected.norm())
    torch.testing.assert_close(
        rays[1, 10, 40, 3:], torch.linalg.cross(relative[:3, 3], direction) / 3
    )


def test_center_crop_keeps_the_camera_model() -> None:
    images = np.zeros((2, 48, 64, 3), np.uint8)
    images[:, 20, 40] = 255  # column 40 of 64: column 32 of the centred 48 x 48 crop
    k = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    small, cropped = resize_views(
        images, np.stack([k, k]), np.stack([np.eye(4)] * 2), 48, 48, center_crop=True
    )
    assert small.shape == (2, 48, 48, 3)
    assert (small[0, 20, 32] == 255).all() and small[0].sum() == 255 * 3
    torch.testing.assert_close(cropped.intrinsics[0, :2, 2], torch.tensor([23.5, 23.5]))


def test_sampler_options(imported: Path) -> None:
    bundle = load_model_directory(imported)
    assert bundle.pipeline.sampler == SamplerSettings()
    assert bundle.config.center_crop and bundle.config.frames == FRAMES
    denoiser = bundle.denoiser
    generator = torch.Generator().manual_seed(5)
    f, h = 2, SIZE // 16
    clean = torch.randn(1, VIEWS, 2, f, h, h, Z, generator=generator)
    noise = torch.randn(clean.shape, generator=generator)
    given = torch.zeros(clean.shape, dtype=torch.bool)
    given[:, :, :, 0] = True  # policy mode: the first latent frame of every segment
    cameras = torch.randn(1, VIEWS, f, h, h, 2 * Z, generator=generator)
    text, empty = torch.randn(2, 1, 7, TEXT, generator=generator)

    def run(**settings: object) -> tuple[torch.Tensor, int]:
        stats = SamplingStats()
        with torch.no_grad():
            out = denoise(
                denoiser,
                SamplerSettings(**settings),
                torch.where(given, clean, noise),
                clean,
                given,
                cameras,
                torch.zeros(1, dtype=torch.long),
                text,
                empty,
                6,
                5.0,
                stats,
            )
        return out, stats.evaluations

    batched, evaluations = run(reuse_threshold=None)
    assert evaluations == 6
    separate, _ = run(reuse_threshold=None, batch_guidance=False)
    torch.testing.assert_close(batched, separate, atol=1e-5, rtol=1e-4)
    # Reuse whenever allowed (threshold -1): steps 0, 1, 3, 5 run the model, 2 and 4 reuse.
    reused, evaluations = run(reuse_threshold=-1.0)
    assert evaluations == 4
    assert not torch.allclose(reused, batched)
    assert torch.equal(batched[given], clean[given])  # given latents stay exactly as given
    again, _ = run(reuse_threshold=None)
    assert torch.equal(again, batched)  # deterministic for the same noise


def test_policy_runs_the_imported_model(imported: Path) -> None:
    from action_images_ros.core.policy import Observation
    from action_images_ros.model.policy import VideoActionPolicy

    policy = VideoActionPolicy.from_pretrained(imported, task="pick the cube")
    camera = rig()
    images = (np.random.default_rng(0).random((VIEWS, 48, SIZE, 3)) * 255).astype(np.uint8)
    k = camera.intrinsics.numpy().copy()
    k[:, 1, 2] -= 8  # the same cameras with 8 rows fewer above and below
    assert policy.pipeline.camera_rays(camera).shape == (1, VIEWS, SIZE, SIZE, 6)  # pixels
    chunk = policy.predict(
        Observation(
            stamp=0.0,
            joint_positions=np.zeros(7),
            images=images,
            intrinsics=k,
            extrinsics=camera.extrinsics.numpy(),
            ee_position=np.array([0.4, 0.0, 0.3]),
            ee_quaternion=np.array([1.0, 0, 0, 0.0]),
            gripper_openness=1.0,
        )
    )
    assert len(chunk.times) == FRAMES - 1
    np.testing.assert_allclose(chunk.times, 0.2 * np.arange(1, FRAMES))
    assert np.isfinite(chunk.positions).all()


def test_a_bad_sampler_config_is_refused_naming_the_file(imported: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(imported, copy, symlinks=True)
    (copy / "sampler_config.json").write_text(json.dumps({"reuse_threshold": 2.0}))
    with pytest.raises(ModelDirectoryError, match=r"sampler_config.json: reuse_threshold"):
        load_model_directory(copy)
    (copy / "sampler_config.json").write_text(json.dumps({"reuse": 0.9}))
    with pytest.raises(ModelDirectoryError, match=r"unknown settings \['reuse'\]"):
        load_model_directory(copy)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bf16_on_cuda_matches_the_float32_reference(
    imported: Path, reference: PublishedDiT
) -> None:
    denoiser = load_model_directory(imported, "cuda").denoiser
    assert denoiser.dtype == torch.bfloat16
    generator = torch.Generator().manual_seed(4)
    f, h = 2, SIZE // 16
    clips = torch.randn(1, VIEWS, 2, f, h, h, Z, generator=generator)
    cameras = torch.randn(1, VIEWS, f, h, h, 2 * Z, generator=generator)
    context = torch.randn(1, 7, TEXT, generator=generator)
    timesteps = torch.full((1, VIEWS, 2, f), 400.0)
    with torch.no_grad():
        inputs = (t.cuda().bfloat16() for t in (clips, timesteps, cameras, context))
        ours = denoiser.network(*inputs).float().cpu()
        hidden = torch.cat([clips[:, v, k] for v in range(VIEWS) for k in range(2)], dim=1)
        video = torch.cat([cameras[:, v] for v in range(VIEWS) for _ in range(2)], dim=1)
        expected = reference(
            hidden.permute(0, 4, 1, 2, 3),
            torch.tensor([400.0]),
            context,
            video.permute(0, 1, 4, 2, 3),
        )
    expected = expected.permute(0, 2, 3, 4, 1).reshape(ours.shape)
    assert ((ours - expected).norm() / expected.norm()) < 0.03
