"""Model directories: the one loader, the packaged default model, the upgrade of old
directories, the denoiser registry, and every kind of bad directory (tiny sizes, CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from action_images_ros.core.action_images import ActionImageConfig
from action_images_ros.core.cameras import CameraRig
from action_images_ros.model.config import DEFAULT_CHECKPOINT
from action_images_ros.model.denoisers import DENOISERS, register_denoiser
from action_images_ros.model.labeling import ModelLabeler
from action_images_ros.model.loading import (
    ModelDirectoryError,
    create_model,
    load_model_directory,
)
from action_images_ros.model.modes import Mode
from action_images_ros.model.rays import plucker_rays
from action_images_ros.model.view_unet import ViewUNetDenoiser
from action_images_ros.model.wan_transformer import WanTransformerDenoiser

SHAPE = {"views": 2, "frames": 3, "height": 16, "width": 16}


def unet() -> ViewUNetDenoiser:
    torch.manual_seed(0)
    return ViewUNetDenoiser(**SHAPE, block_channels=[8, 16], text_dim=16)


def transformer(**options: object) -> WanTransformerDenoiser:
    torch.manual_seed(0)
    return WanTransformerDenoiser(**{**SHAPE, "num_layers": 1, **options})


def rig(views: int = 2, size: int = 16) -> CameraRig:
    k = np.array([[size * 1.25, 0, size / 2 - 0.5], [0, size * 1.25, size / 2 - 0.5], [0, 0, 1]])
    poses = np.stack([np.eye(4)] * views)
    for view in range(1, views):
        poses[view, view % 2, 3] = 0.3
    return CameraRig.from_arrays(np.stack([k] * views), poses, size, size, dtype=torch.float32)


def saved(path: Path, denoiser: object | None = None, **options: object) -> Path:
    create_model(denoiser or unet(), **options).save(path)
    return path


def edit_json(path: Path, **changes: object) -> None:
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


# The packaged default model, run through the code before the denoiser classes existed
# (VideoActionModel with unet_channels, at commit ffe994c): its pipeline in policy mode, task 2,
# 5 steps, generator seed 0, on the clips and rays built in the test below. Per (view, kind,
# frame), the sum and the sum of squares of the output clip, recorded before the refactor.
# (Bit-identical with one thread; sums vary by < 1e-4 with the thread count.)
REFERENCE_SUMS = [
    1544.2888,
    1592.7298,
    1574.7281,
    1536.4618,
    369.7196,
    364.9807,
    1543.7179,
    1614.1956,
    1598.6788,
    1532.7571,
    327.8429,
    323.9411,
    1525.7202,
    1640.3548,
    1610.1032,
    1533.5567,
    313.8539,
    307.3957,
]
REFERENCE_SQUARES = [
    1036.2460,
    954.5736,
    954.6681,
    1022.6179,
    120.3254,
    108.3858,
    1032.2938,
    977.7338,
    997.6092,
    1020.7866,
    74.5446,
    87.8725,
    1012.7739,
    1022.7308,
    994.8534,
    1017.9067,
    97.9162,
    87.6096,
]


def test_the_default_model_gives_the_outputs_recorded_before_the_refactor() -> None:
    bundle = load_model_directory(DEFAULT_CHECKPOINT)
    assert type(bundle.denoiser) is ViewUNetDenoiser
    k = np.array([[40.0, 0, 15.5], [0, 40.0, 15.5], [0, 0, 1]])
    poses = np.stack([np.eye(4)] * 3)
    poses[1, 0, 3] = 0.3
    poses[2, 1, 3] = 0.3
    cameras = CameraRig.from_arrays(np.stack([k] * 3), poses, 32, 32, dtype=torch.float32)
    clips = torch.rand(1, 3, 2, 3, 32, 32, 3, generator=torch.Generator().manual_seed(7))
    out = bundle.pipeline(
        clips=clips,
        rays=plucker_rays(cameras, 32, 32)[None],
        mode=Mode.POLICY,
        task_ids=torch.tensor([2]),
        num_inference_steps=5,
        generator=torch.Generator().manual_seed(0),
    ).clips.double()
    sums = out.sum(dim=(4, 5, 6)).flatten()
    squares = (out**2).sum(dim=(4, 5, 6)).flatten()
    torch.testing.assert_close(sums, torch.tensor(REFERENCE_SUMS).double(), atol=2e-3, rtol=0)
    torch.testing.assert_close(squares, torch.tensor(REFERENCE_SQUARES).double(), atol=2e-3, rtol=0)


def test_the_default_model_directory_describes_itself() -> None:
    config = load_model_directory(DEFAULT_CHECKPOINT).config
    assert config.views == ("front", "left", "right") and config.tasks == ("", "pick", "reach")
    assert (config.frames, config.frame_interval, config.height) == (3, 0.2, 32)
    assert config.action_images == ActionImageConfig.paper()  # what its episodes were drawn with
    assert (config.base_frame, config.tool_frame, config.num_inference_steps) == (
        "panda_link0",
        "tcp",
        5,
    )
    settings = json.loads((DEFAULT_CHECKPOINT / "denoiser" / "config.json").read_text())
    assert not {"num_layers", "patch_size", "ffn_dim", "unet_channels"} & set(settings)


def write_legacy(path: Path, denoiser: object, settings: dict, tasks: object) -> Path:
    """A directory as the code before this format wrote it: config.json of VideoActionModel,
    the same weight names, tasks.json."""
    path.mkdir(parents=True)
    legacy = {
        "_class_name": "VideoActionModel",
        "_diffusers_version": "0.42.1",
        "frame_interval": 0.4,
        "num_layers": 2,
        "patch_size": 2,
        "ffn_dim": 64,
        **SHAPE,
        **settings,
    }
    (path / "config.json").write_text(json.dumps(legacy))
    save_file(dict(denoiser.state_dict()), path / "diffusion_pytorch_model.safetensors")
    (path / "tasks.json").write_text(tasks if isinstance(tasks, str) else json.dumps(tasks))
    return path


def test_old_directories_are_refused_with_the_upgrade_command_and_upgrade(tmp_path: Path) -> None:
    from action_images_ros.cli import main

    model = unet()
    settings = {"unet_channels": [8, 16], "text_dim": 16, "prediction": "sample"}
    old = write_legacy(tmp_path / "old", model, settings, ["", "reach"])
    weights = (old / "diffusion_pytorch_model.safetensors").read_bytes()
    with pytest.raises(ModelDirectoryError, match=f"action-images upgrade-model {old}"):
        load_model_directory(old)
    with pytest.raises(SystemExit) as done:
        main(["upgrade-model", str(old), "--views", "front", "side"])
    assert done.value.code == 0
    assert (old / "denoiser" / "diffusion_pytorch_model.safetensors").read_bytes() == weights
    assert not (old / "config.json").exists() and not (old / "tasks.json").exists()
    bundle = load_model_directory(old)
    assert bundle.config.views == ("front", "side") and bundle.config.tasks == ("", "reach")
    assert bundle.config.frame_interval == 0.4
    settings = json.loads((old / "denoiser" / "config.json").read_text())
    assert "num_layers" not in settings and settings["block_channels"] == [8, 16]
    clips, timesteps = torch.rand(1, 2, 2, 3, 16, 16, 3), torch.full((1, 2, 2, 3), 300.0)
    rays = plucker_rays(rig(), 16, 16)[None]
    with torch.no_grad():
        torch.testing.assert_close(
            bundle.denoiser(clips, timesteps, rays, torch.tensor([1])),
            model(clips, timesteps, rays, torch.tensor([1])),
        )
    other = transformer()  # an old Wan transformer directory keeps its transformer settings
    old = write_legacy(tmp_path / "old_wan", other, {"num_layers": 1, "text_dim": 32}, [""])
    with pytest.raises(SystemExit) as done:
        main(["upgrade-model", str(old), "--views", "a", "b"])
    assert done.value.code == 0
    assert type(load_model_directory(old).denoiser) is WanTransformerDenoiser


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ('["", "rea', "not valid JSON"),
        ({"reach": 1}, "tasks must be a list"),
        (["reach"], "must start with ''"),
        (["", *"abcdefgh"], "9 tasks, the model embeds 8"),
    ],
    ids=["truncated", "dict", "no empty task", "too many"],
)
def test_upgrade_refuses_bad_tasks_files(tmp_path: Path, tasks: object, message: str) -> None:
    from action_images_ros.model.upgrade import upgrade_model_directory

    settings = {"unet_channels": [8, 16], "text_dim": 16}
    old = write_legacy(tmp_path / "old", unet(), settings, tasks)
    with pytest.raises(ModelDirectoryError, match=message) as error:
        upgrade_model_directory(old, ["a", "b"])
    assert "tasks.json" in str(error.value)
    assert (old / "config.json").exists(), "nothing changed"


def test_a_registered_denoiser_class_plugs_in(tmp_path: Path) -> None:
    """Room for other architectures: a class registered by name loads from its directory."""

    @register_denoiser
    class ExperimentalDenoiser(ViewUNetDenoiser):
        pass

    try:
        torch.manual_seed(0)
        model = ExperimentalDenoiser(**SHAPE, block_channels=[8, 16], text_dim=16)
        assert type(load_model_directory(saved(tmp_path / "m", model)).denoiser) is type(model)
    finally:
        DENOISERS.pop("ExperimentalDenoiser")
    with pytest.raises(ModelDirectoryError, match="names the denoiser 'ExperimentalDenoiser'"):
        load_model_directory(tmp_path / "m")


def test_the_labeler_draws_fresh_noise_per_window_from_one_seeded_generator(
    tmp_path: Path,
) -> None:
    labeler = ModelLabeler(load_model_directory(saved(tmp_path / "m")), num_inference_steps=1)
    real, noise = labeler.pipeline, []

    def spy(**kwargs: object) -> object:
        state = kwargs["generator"].get_state()
        noise.append(torch.randn(8, generator=torch.Generator().set_state(state)))
        return real(**kwargs)

    labeler.pipeline = spy
    frames = np.zeros((3, 2, 32, 32, 3), np.uint8)
    cameras = rig(size=32)
    args = (frames, cameras.intrinsics.numpy(), cameras.extrinsics.numpy())
    first = labeler.label(*args)
    labeler.label(*args)
    labeler.reset(0)
    again = labeler.label(*args)
    assert not torch.equal(noise[0], noise[1]), "every window draws fresh noise"
    assert torch.equal(noise[0], noise[2]), "reset(seed) restarts the same noise sequence"
    np.testing.assert_array_equal(first.action_images, again.action_images)


def test_a_path_that_is_not_there_is_refused_without_going_online(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model directory at .*local files"):
        load_model_directory(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no model directory"):
        load_model_directory("someone/some-model")  # a Hub name is not a path


def test_denoiser_configs_that_do_not_fit_their_weights_are_refused(tmp_path: Path) -> None:
    model = saved(tmp_path / "wan", transformer())
    config = model / "denoiser" / "config.json"
    edit_json(config, num_layers=2)
    with pytest.raises(
        ModelDirectoryError,
        match=r"weights the config needs are missing "
        r"\(transformer\.blocks\.1\.",
    ) as error:
        load_model_directory(model)
    assert str(config) in str(error.value)
    edit_json(config, num_layers=1, attention_head_dim=8)
    with pytest.raises(ModelDirectoryError, match="of another shape"):
        load_model_directory(model)
    edit_json(config, attention_head_dim=16, block_channels=[8, 16])
    with pytest.raises(ModelDirectoryError, match=r"has no settings \['block_channels'\]"):
        load_model_directory(model)
    edit_json(config, _class_name="ViewUNetDenoiser")  # weights of another class
    document = json.loads(config.read_text())
    config.write_text(json.dumps({k: document[k] for k in ("_class_name", *SHAPE)}))
    with pytest.raises(ModelDirectoryError, match="model_index.json names the denoiser 'Wan"):
        load_model_directory(model)
    edit_json(model / "model_index.json", denoiser=["action_images_ros", "ViewUNetDenoiser"])
    with pytest.raises(ModelDirectoryError, match="do not fit the ViewUNetDenoiser"):
        load_model_directory(model)


def test_a_config_edited_apart_from_its_weights_is_refused(tmp_path: Path) -> None:
    """A UNet's weights fit any image size and view count, so the size, views, frames and
    class the weights were saved as travel in their safetensors metadata: a config.json (and
    policy config) changed to another size or view count is refused naming both files."""
    from action_images_ros.model.multiview_unet import MultiViewUNetDenoiser

    model = saved(tmp_path / "m")
    denoiser_config = model / "denoiser" / "config.json"
    for changes, message in [
        ({"height": 32, "width": 32}, r"height 32 \(the weights: 16\), width 32"),
        ({"views": 3}, r"views 3 \(the weights: 2\)"),
    ]:
        directory = shutil.copytree(model, tmp_path / "_".join(changes))
        edit_json(directory / "denoiser" / "config.json", **changes)
        policy = {"views": ["a", "b", "c"]} if "views" in changes else changes
        edit_json(directory / "policy_config.json", **policy)
        with pytest.raises(ModelDirectoryError, match=message) as error:
            load_model_directory(directory)
        assert str(directory / "denoiser" / "config.json") in str(error.value)
        assert "diffusion_pytorch_model.safetensors" in str(error.value)
    # The multi-view UNet and the per-view one share most weight names: each is refused as the
    # other (the cross-view attention weights are missing or have no place).
    torch.manual_seed(0)
    multiview = saved(
        tmp_path / "multiview",
        MultiViewUNetDenoiser(**SHAPE, block_channels=[16, 32], text_dim=16, head_dim=8),
    )
    assert type(load_model_directory(multiview).denoiser) is MultiViewUNetDenoiser
    edit_json(multiview / "model_index.json", denoiser=["action_images_ros", "ViewUNetDenoiser"])
    config = multiview / "denoiser" / "config.json"
    document = json.loads(config.read_text())
    config.write_text(
        json.dumps(
            {
                **{k: document[k] for k in (*SHAPE, "block_channels", "text_dim")},
                "_class_name": "ViewUNetDenoiser",
            }
        )
    )
    with pytest.raises(ModelDirectoryError, match="weights it has no place for .*cross_view"):
        load_model_directory(multiview)
    edit_json(denoiser_config, _class_name="MultiViewUNetDenoiser", head_dim=8)
    edit_json(model / "model_index.json", denoiser=["action_images_ros", "MultiViewUNetDenoiser"])
    with pytest.raises(ModelDirectoryError, match="weights the config needs are missing"):
        load_model_directory(model)


def test_policy_configs_that_do_not_fit_the_denoiser_are_refused(tmp_path: Path) -> None:
    model = saved(tmp_path / "m")
    policy = model / "policy_config.json"
    for changes, message in [
        ({"height": 32}, r"height 32 \(the denoiser: 16\)"),
        ({"views": ["a", "b", "c"]}, r"views 3 \(the denoiser: 2\)"),
        ({"frames": 5}, r"frames 5 \(the denoiser: 3\)"),
        ({"tasks": [""] + [f"t{i}" for i in range(8)]}, r"9 tasks \(the denoiser embeds 8\)"),
        ({"tasks": {"": 0}}, "tasks must be a list"),
        ({"tasks": ["", 3]}, "tasks must be strings"),
        ({"action_images": {"sigma_fraction": 0.9}}, "sigma_fraction"),
        ({"colour": "red"}, r"unknown keys \['colour'\]"),
    ]:
        original = policy.read_text()
        edit_json(policy, **changes)
        with pytest.raises(ModelDirectoryError, match=message) as error:
            load_model_directory(model)
        assert str(policy) in str(error.value), changes
        policy.write_text(original)
    policy.write_text(original[: len(original) // 2])
    with pytest.raises(ModelDirectoryError, match="policy_config.json is not valid JSON"):
        load_model_directory(model)


def test_missing_or_mismatched_parts_are_refused(tmp_path: Path) -> None:
    def broken(name: str) -> Path:
        return shutil.copytree(model, tmp_path / name)

    model = saved(tmp_path / "m")
    for part, message in [
        ("policy_config.json", "policy_config.json is missing"),
        ("scheduler", "scheduler_config.json is missing"),
        ("denoiser/config.json", "denoiser/config.json is missing"),
        ("denoiser/diffusion_pytorch_model.safetensors", "safetensors is missing"),
        ("model_index.json", "model_index.json is missing"),
    ]:
        directory = broken(part.replace("/", "_"))
        target = directory / part
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        with pytest.raises(ModelDirectoryError, match=message):
            load_model_directory(directory)
    directory = broken("pickled")
    weights = directory / "denoiser" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(ModelDirectoryError, match="pickled weights .* are never loaded"):
        load_model_directory(directory)
    directory = broken("scheduler_class")
    edit_json(directory / "scheduler" / "scheduler_config.json", _class_name="DDPMScheduler")
    with pytest.raises(ModelDirectoryError, match="'DDPMScheduler' scheduler"):
        load_model_directory(directory)
    directory = broken("vae_listed")
    edit_json(directory / "model_index.json", vae=["diffusers", "AutoencoderKLWan"])
    with pytest.raises(ModelDirectoryError, match="vae/config.json is missing"):
        load_model_directory(directory)
    latent = transformer(
        frames=5,
        height=32,
        width=32,
        latent_channels=4,
        spatial_compression=16,
        temporal_compression=4,
    )
    with pytest.raises(ValueError, match="pass the VAE it was trained with"):
        create_model(latent)


def test_psnr_and_ssim_match_their_closed_forms() -> None:
    from action_images_ros.model.world_model import psnr, ssim

    image = np.random.default_rng(0).random((16, 16, 3))
    assert psnr(np.clip(image + 0.1, 0, 2), image) == pytest.approx(20.0)  # mse 0.01
    assert ssim(image, image) == pytest.approx(1.0)
    a, b, c1 = np.full((16, 16, 3), 0.3), np.full((16, 16, 3), 0.6), 0.01**2
    # constant images: no variance, so SSIM is the luminance term alone
    assert ssim(a, b) == pytest.approx((2 * 0.3 * 0.6 + c1) / (0.3**2 + 0.6**2 + c1))
    assert ssim(image, np.random.default_rng(1).random((16, 16, 3))) < 0.1


def test_world_model_figures_cover_every_window_of_the_held_out_episodes(tmp_path: Path) -> None:
    from model_fixtures import write_toy_episodes

    from action_images_ros.model.config import build_preset
    from action_images_ros.model.world_model import world_model_figures

    episodes = write_toy_episodes(tmp_path / "episodes", count=2, steps=8)
    bundle = create_model(build_preset("tiny", views=2), tasks=["", "pick", "reach"])
    figures = world_model_figures(bundle, episodes, num_inference_steps=1)
    assert figures["windows"] == 2 * 2  # 8 steps in windows of 3 frames, one apart
    assert 0 < figures["video_psnr_db"] < 60 and -1 <= figures["video_ssim"] <= 1
    for mode in ("labeling", "joint_generation"):
        assert figures[mode]["steps"] == 4 * (3 if mode == "labeling" else 2)


def test_label_bag_names_a_model_it_cannot_load_and_fails(tmp_path: Path) -> None:
    from action_images_ros.label_bag import main

    old = write_legacy(tmp_path / "old", unet(), {"unet_channels": [8, 16], "text_dim": 16}, [""])
    for model, message in [(tmp_path / "nothing", "no model directory"), (old, "upgrade-model")]:
        with pytest.raises(SystemExit, match=f"cannot load --model: .*{message}"):
            main([str(tmp_path / "bag"), "--out", str(tmp_path / "out"), "--model", str(model)])
