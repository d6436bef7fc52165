"""The denoisers and their pipeline: modes, sampling, training signal (tiny sizes, CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from model_fixtures import assert_training_reduces_the_loss

from action_images_ros.core.cameras import CameraRig
from action_images_ros.model.denoisers import Denoiser, ModelShapeError
from action_images_ros.model.loading import create_model, load_model_directory
from action_images_ros.model.modes import Mode, given_mask
from action_images_ros.model.multiview_unet import MultiViewUNetDenoiser
from action_images_ros.model.objective import flow_matching_loss
from action_images_ros.model.pipeline import (
    VideoActionPipeline,
    VideoActionPipelineOutput,
    default_scheduler,
)
from action_images_ros.model.rays import plucker_rays
from action_images_ros.model.view_unet import ViewUNetDenoiser
from action_images_ros.model.wan_transformer import WanTransformerDenoiser

SIZE, FRAMES, VIEWS = 16, 3, 2


# The denoisers: the Wan transformer, the per-view UNet of the small CPU preset, which
# predicts samples, and the multi-view UNet.
DENOISERS = pytest.mark.parametrize(
    "denoiser",
    [{}, {"unet": [8, 16]}, {"unet": [8, 16], "prediction": "sample"}, {"multiview": [16, 32]}],
    ids=["transformer", "unet", "unet-sample", "multiview"],
)


def tiny(
    unet: list[int] | None = None, multiview: list[int] | None = None, **options: object
) -> Denoiser:
    """A tiny Wan transformer, or with `unet` block channels a tiny per-view UNet, or with
    `multiview` ones a tiny multi-view UNet."""
    torch.manual_seed(0)
    shape = {"views": VIEWS, "frames": FRAMES, "height": SIZE, "width": SIZE}
    if multiview:
        return MultiViewUNetDenoiser(
            **shape, block_channels=multiview, text_dim=32, head_dim=8, **options
        )
    if unet:
        return ViewUNetDenoiser(**shape, block_channels=unet, text_dim=32, **options)
    return WanTransformerDenoiser(**shape, num_layers=1, **options)


def pipeline_of(denoiser: Denoiser) -> VideoActionPipeline:
    return VideoActionPipeline(denoiser=denoiser, scheduler=default_scheduler())


def rays(batch: int = 1) -> torch.Tensor:
    k = np.array([[15.0, 0, 7.5], [0, 15.0, 7.5], [0, 0, 1]])
    second = np.eye(4)
    second[0, 3] = 0.4
    rig = CameraRig.from_arrays([k, k], [np.eye(4), second], 64, 64, dtype=torch.float32)
    return plucker_rays(rig, SIZE, SIZE)[None].expand(batch, -1, -1, -1, -1)


def clips(batch: int = 1, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, VIEWS, 2, FRAMES, SIZE, SIZE, 3, generator=generator)


@DENOISERS
@pytest.mark.parametrize("mode", list(Mode))
def test_every_mode_keeps_given_frames_and_fills_the_rest(mode: Mode, denoiser: dict) -> None:
    pipeline = pipeline_of(tiny(**denoiser))
    inputs = clips(2)
    result = pipeline(
        clips=inputs,
        rays=rays(2),
        mode=mode,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(1),
    )
    assert isinstance(result, VideoActionPipelineOutput)
    out = result.clips
    assert out.shape == inputs.shape and out.min() >= 0 and out.max() <= 1
    given = given_mask(mode, FRAMES)
    for kind in range(2):
        for frame in range(FRAMES):
            same = torch.equal(out[:, :, kind, frame], inputs[:, :, kind, frame])
            assert same == bool(given[kind, frame]), (kind, frame)


@DENOISERS
def test_sampling_is_deterministic_for_a_seed_and_guidance_changes_it(
    denoiser: dict,
) -> None:
    pipeline = pipeline_of(tiny(**denoiser))

    def run(seed: int, scale: float = 1.0) -> torch.Tensor:
        return pipeline(
            clips=clips(),
            rays=rays(),
            mode=Mode.POLICY,
            task_ids=torch.tensor([3]),
            num_inference_steps=3,
            guidance_scale=scale,
            generator=torch.Generator().manual_seed(seed),
        ).clips

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))
    assert not torch.equal(run(5), run(5, scale=3.0))


@DENOISERS
def test_latents_are_the_initial_noise(denoiser: dict) -> None:
    """`latents=`: the same noise as the generator would draw gives the same result."""
    pipeline = pipeline_of(tiny(**denoiser))
    inputs = clips()
    noise = torch.randn(inputs.shape, generator=torch.Generator().manual_seed(2))
    drawn = pipeline(
        clips=inputs,
        rays=rays(),
        mode=Mode.POLICY,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(2),
    ).clips
    given = pipeline(
        clips=inputs, rays=rays(), mode=Mode.POLICY, num_inference_steps=2, latents=noise
    ).clips
    other = pipeline(
        clips=inputs,
        rays=rays(),
        mode=Mode.POLICY,
        num_inference_steps=2,
        latents=torch.zeros_like(noise),
    ).clips
    assert torch.equal(drawn, given) and not torch.equal(drawn, other)
    with pytest.raises(ValueError, match="latents must be"):
        pipeline(clips=inputs, rays=rays(), mode=Mode.POLICY, latents=noise[:, :1])


@DENOISERS
def test_model_directory_round_trip(tmp_path: Path, denoiser: dict) -> None:
    model = tiny(**denoiser)
    create_model(model, views=["a", "b"], tasks=["", "reach"]).save(tmp_path / "model")
    assert (tmp_path / "model" / "denoiser" / "diffusion_pytorch_model.safetensors").exists()
    assert not list((tmp_path / "model").rglob("*.bin")), "safetensors only"
    loaded = load_model_directory(tmp_path / "model")
    assert type(loaded.denoiser) is type(model)
    assert loaded.config.views == ("a", "b") and loaded.config.tasks == ("", "reach")
    assert loaded.pipeline.scheduler.config.shift == 3.0
    assert type(VideoActionPipeline.from_pretrained(tmp_path / "model").denoiser) is type(model)
    inputs, timesteps = clips(), torch.full((1, VIEWS, 2, FRAMES), 500.0)
    with torch.no_grad():
        torch.testing.assert_close(
            model(inputs, timesteps, rays(), torch.tensor([1])),
            loaded.denoiser(inputs, timesteps, rays(), torch.tensor([1])),
        )


@DENOISERS
def test_inputs_the_model_was_not_built_for_are_refused(denoiser: dict) -> None:
    model = tiny(**denoiser)
    with pytest.raises(ModelShapeError, match=r"clips must be \(B, 2, 2, 3, 16, 16, 3\)"):
        model(
            torch.rand(1, 3, 2, FRAMES, SIZE, SIZE, 3),
            torch.zeros(1, 3, 2, FRAMES),
            rays(),
            torch.tensor([0]),
        )
    with pytest.raises(ValueError):
        pipeline_of(model)(clips=clips(), rays=rays(), mode="teleport")
    with pytest.raises(ValueError, match=r"rays must be \(1, 2, 16, 16, 6\)"):
        pipeline_of(model)(clips=clips(), rays=rays()[:, :, :8], mode=Mode.POLICY)
    with pytest.raises(ValueError, match=r"task ids must be in \[0, 8\)"):
        pipeline_of(model)(clips=clips(), rays=rays(), mode=Mode.POLICY, task_ids=torch.tensor([8]))
    with pytest.raises(TypeError):  # keyword arguments only
        pipeline_of(model)(clips(), rays(), Mode.POLICY)


@DENOISERS
def test_training_reduces_the_loss_on_a_small_batch(denoiser: dict) -> None:
    torch.manual_seed(0)
    modes = [Mode.POLICY, Mode.ACTION_LABELING, Mode.VIDEO]  # a batch size other than the views
    assert_training_reduces_the_loss(
        tiny(**denoiser), clips(3), rays(3), torch.tensor([1, 2, 0]), modes, steps=40
    )


@DENOISERS
def test_policy_turns_an_observation_into_a_chunk(tmp_path: Path, denoiser: dict) -> None:
    from action_images_ros.core.policy import Observation
    from action_images_ros.model.policy import VideoActionPolicy

    create_model(tiny(**denoiser)).save(tmp_path / "model")
    policy = VideoActionPolicy.from_pretrained(tmp_path / "model", num_inference_steps=2)
    k = np.array([[60.0, 0, 31.5], [0, 60.0, 31.5], [0, 0, 1]])
    second = np.eye(4)
    second[0, 3] = 0.4
    observation = Observation(
        stamp=1.0,
        images=np.zeros((2, 64, 64, 3), np.uint8),
        intrinsics=np.stack([k, k]),
        extrinsics=np.stack([np.eye(4), second]),
        joint_positions=np.zeros(7),
        ee_position=np.array([0.2, 0.0, 1.0]),
        ee_quaternion=np.array([0, 0, 0, 1.0]),
        gripper_openness=1.0,
    )
    real_pipeline, noise = policy.pipeline, []

    def pipeline_spy(**kwargs: object) -> VideoActionPipelineOutput:  # each chunk's noise
        state = kwargs["generator"].get_state()
        noise.append(torch.randn(8, generator=torch.Generator().set_state(state)))
        return real_pipeline(**kwargs)

    policy.pipeline = pipeline_spy
    chunk = policy.predict(observation)
    policy.predict(observation)
    policy.reset(0)
    policy.predict(observation)
    assert not torch.equal(noise[0], noise[1]), "every chunk draws fresh noise"
    assert torch.equal(noise[0], noise[2]), "reset(seed) restarts the same noise sequence"
    assert len(chunk) == FRAMES - 1
    np.testing.assert_allclose(chunk.times, 0.2 * np.arange(1, FRAMES))
    assert np.all(chunk.confidence[~chunk.valid] == 0), "invalid steps claim no confidence"
    with pytest.raises(ModelShapeError, match=r"built for 2 views \(view0, view1\)"):
        policy.predict(
            Observation(
                **{
                    **observation.__dict__,
                    "images": observation.images[:1],
                    "intrinsics": np.stack([k]),
                    "extrinsics": np.eye(4)[None],
                }
            )
        )


def test_given_future_action_frames_are_kept_and_the_rest_generated() -> None:
    """Real-time chunking: in policy mode, future action frames 1..n can be given as well."""
    pipeline = pipeline_of(tiny())
    inputs = clips(1)
    out = pipeline(
        clips=inputs,
        rays=rays(1),
        mode=Mode.POLICY,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(1),
        given_action_frames=1,
    ).clips
    assert torch.equal(out[:, :, 1, :2], inputs[:, :, 1, :2])
    assert not torch.equal(out[:, :, 1, 2], inputs[:, :, 1, 2])
    assert not torch.equal(out[:, :, 0, 1], inputs[:, :, 0, 1])
    with pytest.raises(ValueError, match=r"in \[0, 1\] for 3 frames"):
        given_mask(Mode.POLICY, 3, given_action_frames=2)  # nothing left to generate
    with pytest.raises(ValueError, match="policy-mode option"):
        given_mask(Mode.ACTION_LABELING, 3, given_action_frames=1)


def test_policy_continues_from_given_actions_and_returns_them_exactly(tmp_path: Path) -> None:
    from action_images_ros.core.action_chunk import ActionChunk
    from action_images_ros.core.policy import Observation
    from action_images_ros.model.policy import VideoActionPolicy

    create_model(tiny()).save(tmp_path / "model")
    policy = VideoActionPolicy.from_pretrained(tmp_path / "model", num_inference_steps=2)
    assert policy.accepts_given_actions and policy.frame_interval == pytest.approx(0.2)
    k = np.array([[60.0, 0, 31.5], [0, 60.0, 31.5], [0, 0, 1]])
    second = np.eye(4)
    second[0, 3] = 0.4
    given = ActionChunk.from_poses(
        np.array([[0.21, 0.01, 1.0]]), np.array([[0, 0, 0.1, 0.995]]), np.array([0.3]), 0.2
    )
    observation = Observation(
        stamp=1.0,
        images=np.zeros((2, 64, 64, 3), np.uint8),
        intrinsics=np.stack([k, k]),
        extrinsics=np.stack([np.eye(4), second]),
        joint_positions=np.zeros(7),
        ee_position=np.array([0.2, 0.0, 1.0]),
        ee_quaternion=np.array([0, 0, 0, 1.0]),
        gripper_openness=1.0,
        given_actions=given,
    )
    chunk = policy.predict(observation)
    assert len(chunk) == FRAMES - 1 and chunk.valid[0]
    np.testing.assert_array_equal(chunk.positions[0], given.positions[0])
    np.testing.assert_array_equal(chunk.quaternions[0], given.quaternions[0])
    assert chunk.gripper_openness[0] == pytest.approx(0.3)
    late = ActionChunk(**{**given.__dict__, "times": np.array([0.25])})
    with pytest.raises(ValueError, match="frame times"):
        policy.predict(Observation(**{**observation.__dict__, "given_actions": late}))


def test_lora_trains_only_the_adapters_and_round_trips(tmp_path: Path) -> None:
    from action_images_ros.model.lora import add_lora, load_lora, save_lora

    model = tiny()
    frozen = {n: p.clone() for n, p in model.named_parameters()}
    trainable = add_lora(model, rank=4)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora" in n or n.startswith("task_embedding") for n in names)
    assert trainable < sum(p.numel() for p in frozen.values())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        modes, generator = [Mode.POLICY, Mode.POLICY], torch.Generator().manual_seed(0)
        loss = flow_matching_loss(model, clips(2), rays(2), torch.tensor([1, 2]), modes, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for name, parameter in model.named_parameters():
        if name in frozen and not parameter.requires_grad:
            assert torch.equal(parameter, frozen[name]), f"{name} changed"
    save_lora(model, tmp_path)
    other = tiny()
    load_lora(other, tmp_path, rank=4)
    inputs, timesteps = clips(), torch.full((1, VIEWS, 2, FRAMES), 300.0)
    with torch.no_grad():
        torch.testing.assert_close(
            model(inputs, timesteps, rays(), torch.tensor([1])),
            other(inputs, timesteps, rays(), torch.tensor([1])),
        )
    with pytest.raises(FileNotFoundError, match="no LoRA adapter"):
        load_lora(tiny(), tmp_path / "nothing")


def test_action_weight_scales_the_action_frames_share_of_the_loss() -> None:
    """Policy mode supervises as many RGB as action frames, so with the per-kind mean errors
    E_rgb = loss(0) and E_action = 2 loss(1) - loss(0), loss(w) = (E_rgb + w E_action) / (1 + w)."""
    model, batch = tiny(), clips(2)

    def loss(weight: float) -> float:
        generator = torch.Generator().manual_seed(4)
        with torch.no_grad():
            tasks, modes = torch.tensor([1, 1]), [Mode.POLICY] * 2
            value = flow_matching_loss(
                model, batch, rays(2), tasks, modes, generator, action_weight=weight
            )
        return value.item()

    rgb, action = loss(0.0), 2 * loss(1.0) - loss(0.0)
    assert rgb != pytest.approx(action, rel=1e-3)
    assert loss(3.0) == pytest.approx((rgb + 3 * action) / 4, rel=1e-5)


def test_learning_rate_warms_up_then_decays_to_zero() -> None:
    from argparse import Namespace

    from action_images_ros.model.train import learning_rate

    args = Namespace(lr=1e-3, warmup=10, steps=110)
    rates = [learning_rate(step, args) for step in range(111)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert rates[60] == pytest.approx(5e-4) and rates[110] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:], strict=False))


def test_policy_tasks_by_name_and_unknown_tasks_refused() -> None:
    from action_images_ros.model.policy import VideoActionPolicy

    policy = VideoActionPolicy(create_model(tiny(), tasks=["", "pick", "reach"]), task="reach")
    assert policy.task_id == 2 and policy.knows_tasks
    policy.set_task("")
    assert policy.task_id == 0
    with pytest.raises(ValueError, match=r"no task 'place' \(its tasks: 'pick', 'reach'\)"):
        policy.set_task("place")
    unnamed = VideoActionPolicy(create_model(tiny(), tasks=["", ""]))  # no task names
    assert not unnamed.knows_tasks and unnamed.task_id == 1


def test_sampling_runs_in_bfloat16_and_keeps_given_frames() -> None:
    """The dtype the policy uses on a GPU, checked on the CPU."""
    pipeline = pipeline_of(tiny().to(torch.bfloat16))
    inputs = clips()
    out = pipeline(
        clips=inputs,
        rays=rays(),
        mode=Mode.POLICY,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
    ).clips
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert torch.equal(out[:, :, :, 0], inputs[:, :, :, 0])
    assert not torch.equal(out[:, :, :, 1:], inputs[:, :, :, 1:])


def test_the_unet_denoises_each_view_on_its_own() -> None:
    """The small preset's UNet sees one view at a time (the decoder fuses the views)."""
    model = tiny(unet=[8, 16]).eval()
    first = clips()
    second = first.clone()
    second[:, 1] = torch.rand_like(second[:, 1])
    timesteps = torch.full((1, VIEWS, 2, FRAMES), 500.0)
    timesteps[..., 0] = 0.0
    with torch.no_grad():
        out_first = model(first, timesteps, rays(), torch.tensor([1]))
        out_second = model(second, timesteps, rays(), torch.tensor([1]))
        other_task = model(first, timesteps, rays(), torch.tensor([2]))
    torch.testing.assert_close(out_first[:, 0], out_second[:, 0])
    assert not torch.allclose(out_first[:, 1], out_second[:, 1])
    assert not torch.allclose(out_first, other_task), "the task conditions the UNet"


def test_the_multiview_unet_lets_every_view_see_the_others() -> None:
    """Its cross-view attention starts as the identity (the views start independent); once
    trained (here: its output projections set at random), changing one view's input changes
    the other view's output."""
    model = tiny(multiview=[16, 32]).eval()
    first = clips()
    second = first.clone()
    second[:, 1] = torch.rand_like(second[:, 1])
    timesteps = torch.full((1, VIEWS, 2, FRAMES), 500.0)
    timesteps[..., 0] = 0.0

    def first_view_outputs() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return tuple(
                model(c, timesteps, rays(), torch.tensor([1]))[:, 0] for c in (first, second)
            )

    torch.testing.assert_close(*first_view_outputs())
    with torch.no_grad():
        for attention in model.unet.cross_view:
            attention.out.weight.normal_(std=0.2)
    a, b = first_view_outputs()
    assert not torch.allclose(a, b, atol=1e-4)
    with pytest.raises(ValueError, match="multiples of patch_size"):
        MultiViewUNetDenoiser(views=2, frames=3, height=15, width=16)


def test_a_sample_predicting_model_samples_its_prediction_in_one_step() -> None:
    """prediction="sample": the network outputs the clean clip, the model returns the velocity
    (x_t - x0) / s, so one Euler step from pure noise lands exactly on the network's output."""
    model = tiny(unet=[8, 16], prediction="sample").eval()
    inputs, generator = clips(), torch.Generator().manual_seed(3)
    out = pipeline_of(model)(
        clips=inputs,
        rays=rays(),
        mode=Mode.POLICY,
        task_ids=torch.tensor([1]),
        num_inference_steps=1,
        generator=generator,
    ).clips
    clean = inputs * 2 - 1
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    given = given_mask(Mode.POLICY, FRAMES)[None, None, :, :, None, None, None]
    timesteps = torch.where(given[..., 0, 0, 0], 0.0, 1000.0).expand(1, VIEWS, 2, FRAMES)
    with torch.no_grad():
        network = model.unet(
            torch.where(given, clean, noise),
            timesteps,
            rays(),
            model.task_embedding(torch.tensor([1]))[:, None],
        )
    expected = torch.where(given, inputs, ((network + 1) / 2).clamp(0, 1))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="prediction must be"):
        tiny(prediction="epsilon")


def test_a_sample_predicting_model_is_trained_on_the_error_of_its_sample() -> None:
    model = tiny(unet=[8, 16], prediction="sample")
    clean, tasks, modes = clips(2) * 2 - 1, torch.tensor([1, 2]), [Mode.VIDEO, Mode.VIDEO]
    loss = flow_matching_loss(model, clean, rays(2), tasks, modes, torch.Generator().manual_seed(4))
    generator = torch.Generator().manual_seed(4)  # the same draws as inside the loss
    level = torch.rand(2, generator=generator).view(2, 1, 1, 1, 1, 1, 1)
    noise = torch.randn(clean.shape, generator=generator)
    given = given_mask(Mode.VIDEO, FRAMES)
    noisy = torch.where(
        given[None, None, :, :, None, None, None], clean, (1 - level) * clean + level * noise
    )
    timesteps = torch.where(given[None, None], 0.0, 1000 * level.view(2, 1, 1, 1))
    with torch.no_grad():
        sample = model.unet(
            noisy,
            timesteps.expand(2, VIEWS, 2, FRAMES),
            rays(2),
            model.task_embedding(tasks)[:, None],
        )
    expected = ((sample - clean) ** 2)[:, :, 0, 1:].mean()  # video mode: future RGB frames
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-4, atol=1e-6)
