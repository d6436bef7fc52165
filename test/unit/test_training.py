"""Training on episodes: checkpoints without pickles, resuming, the loss plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from model_fixtures import write_toy_episodes

from action_images_ros.model.config import build_preset
from action_images_ros.model.dataset import EpisodeClips
from action_images_ros.model.loading import load_model_directory
from action_images_ros.model.train import load_optimizer, main, save_optimizer


def test_dataset_windows_clips_and_tasks(tmp_path: Path) -> None:
    model = build_preset("tiny", views=2)
    dataset = EpisodeClips(write_toy_episodes(tmp_path / "episodes"), model, 0.2)
    assert dataset.tasks == ["pick", "reach"]
    item = dataset[0]
    assert item["clips"].shape == (2, 2, 3, 16, 16, 3) and item["rays"].shape == (2, 16, 16, 6)
    assert item["clips"][:, 1].amax() > 0.5, "action images are drawn"
    assert len(dataset) == 2 * (8 - 2)  # frame_interval 0.2 s at 5 fps: stride 1
    with pytest.raises(ValueError, match="2 views, the model 3"):
        EpisodeClips(tmp_path / "episodes", build_preset("tiny", views=3), 0.2)
    assert len(EpisodeClips(tmp_path / "episodes", model, 0.4)) == 2 * (8 - 4)  # stride 2


def test_train_checkpoint_resume(tmp_path: Path) -> None:
    episodes, out = write_toy_episodes(tmp_path / "episodes"), tmp_path / "run"
    common = [
        "--config",
        "tiny",
        "--views",
        "2",
        "--episodes",
        str(episodes),
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--checkpoint-every",
        "3",
        "--cpu",
    ]
    main([*common, "--steps", "6"])
    assert (out / "checkpoint-3" / "model" / "model_index.json").exists()
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt")), "no pickles"
    main([*common, "--steps", "8", "--resume"])
    state = json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())
    assert state["step"] == 8 and len(state["losses"]) == 8
    assert (out / "loss.png").stat().st_size > 5000
    model = load_model_directory(out / "model")
    assert model.config.tasks == ("", "pick", "reach") and model.config.views == ("a", "b")
    assert model.config.frame_interval == 0.2 and model.denoiser.config.views == 2


def test_optimizer_state_round_trip(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    save_optimizer(optimizer, tmp_path)
    fresh = torch.optim.AdamW(model.parameters(), lr=0.5)
    load_optimizer(fresh, tmp_path)
    assert fresh.param_groups[0]["lr"] == 0.1
    for key in ("exp_avg", "exp_avg_sq"):
        torch.testing.assert_close(
            fresh.state[model.weight][key], optimizer.state[model.weight][key]
        )


def test_task_balancing_weights_draw_every_task_equally(tmp_path: Path) -> None:
    episodes = write_toy_episodes(tmp_path / "episodes", count=3, steps=8)  # reach, pick, reach
    dataset = EpisodeClips(episodes, build_preset("tiny", views=2), 0.2)
    weights = dataset.task_balancing_weights()
    tasks = torch.tensor(dataset.window_tasks)
    assert len(weights) == len(dataset) and (tasks == 2).sum() == 2 * (tasks == 1).sum()
    assert weights[tasks == 1].sum() == pytest.approx(weights[tasks == 2].sum())


def test_mode_mix_is_parsed_and_bad_mixes_are_refused() -> None:
    import argparse

    from action_images_ros.model.modes import Mode
    from action_images_ros.model.train import parse_mode_mix

    assert parse_mode_mix(["policy=0.8", "action_labeling=0.2"]) == {
        Mode.POLICY: 0.8,
        Mode.ACTION_LABELING: 0.2,
    }
    for bad in (["teleport=1"], ["policy=-1"], ["policy=x"], ["policy=0"]):
        with pytest.raises(argparse.ArgumentTypeError, match="--mode-mix"):
            parse_mode_mix(bad)


def test_resume_continues_exactly_as_the_uninterrupted_run(tmp_path: Path) -> None:
    """Model, optimizer, learning-rate schedule, random generators (batches, modes, noise) and
    step all come back: resuming from step 2 of 4 ends with the same weights and losses."""
    import shutil

    from safetensors.torch import load_file

    episodes = write_toy_episodes(tmp_path / "episodes", count=3)

    def run(out: Path, *extra: str) -> None:
        main(
            [
                "--config",
                "tiny",
                "--views",
                "2",
                "--episodes",
                str(episodes),
                "--out",
                str(out),
                "--batch-size",
                "2",
                "--checkpoint-every",
                "2",
                "--steps",
                "4",
                "--cpu",
                "--balance-tasks",
                "--mode-mix",
                "policy=1",
                "policy_given_prefix=1",
                "action_labeling=1",
                *extra,
            ]
        )

    run(tmp_path / "whole")
    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "whole" / "checkpoint-2", resumed / "checkpoint-2")
    run(resumed, "--resume")
    weights = "model/denoiser/diffusion_pytorch_model.safetensors"
    whole, again = (load_file(d / "checkpoint-4" / weights) for d in (tmp_path / "whole", resumed))
    assert whole.keys() == again.keys()
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    first = load_file(tmp_path / "whole" / "checkpoint-2" / weights)
    assert not all(torch.equal(first[k], whole[k]) for k in whole), "steps 3-4 changed it"
    for name in ("optimizer.safetensors", "rng.safetensors"):
        a, b = (load_file(d / "checkpoint-4" / name) for d in (tmp_path / "whole", resumed))
        assert all(torch.equal(a[k], b[k]) for k in a)
    states = [
        json.loads((d / "checkpoint-4" / "trainer_state.json").read_text())
        for d in (tmp_path / "whole", resumed)
    ]
    assert states[0] == states[1] and states[0]["step"] == 4


def test_given_prefix_mode_trains_the_inpainting_mask() -> None:
    from action_images_ros.model.modes import POLICY_GIVEN_PREFIX, Mode, supervised_mask
    from action_images_ros.model.train import draw_modes, parse_mode_mix

    assert parse_mode_mix(["policy_given_prefix=1"]) == {POLICY_GIVEN_PREFIX: 1.0}
    generator = torch.Generator().manual_seed(0)
    modes, prefixes = draw_modes([POLICY_GIVEN_PREFIX] * 50 + ["video"], 6, generator)
    assert modes == [Mode.POLICY] * 50 + [Mode.VIDEO] and prefixes[-1] == 0
    assert set(prefixes[:50]) == {1, 2, 3, 4}, "1..frames-2 future action frames given"
    supervised = supervised_mask(Mode.POLICY, 6, 2)
    assert supervised[1].tolist() == [False, False, False, True, True, True]
    assert supervised[0].tolist() == [False] + [True] * 5
    assert draw_modes([POLICY_GIVEN_PREFIX], 2, generator) == ([Mode.POLICY], [0]), "no room"


def test_given_prefix_frames_carry_no_loss() -> None:
    """A policy sample with 2 given future action frames: changing what the model outputs on
    them changes nothing, on the first generated one it does."""
    from action_images_ros.model.objective import flow_matching_loss

    model = build_preset("tiny", views=2, frames=4)
    clean = torch.rand(1, 2, 2, 4, 16, 16, 3)
    rays = torch.rand(1, 2, 16, 16, 6)

    def loss(offset_frame: int | None) -> float:
        def shift(module, inputs, output):  # noqa: ANN001, ANN202 - a forward hook
            shifted = output.clone()
            if offset_frame is not None:
                shifted[:, :, 1, offset_frame] += 0.5
            return shifted

        handle = model.register_forward_hook(shift)
        try:
            with torch.no_grad():
                return flow_matching_loss(
                    model,
                    clean,
                    rays,
                    torch.tensor([1]),
                    ["policy"],
                    torch.Generator().manual_seed(0),
                    given_action_frames=[2],
                ).item()
        finally:
            handle.remove()

    assert loss(2) == pytest.approx(loss(None)) and loss(3) != pytest.approx(loss(None))


def test_hold_last_frame_adds_the_windows_past_the_end(tmp_path: Path) -> None:
    episodes = write_toy_episodes(tmp_path / "episodes", count=1, steps=8)
    model = build_preset("tiny", views=2, frames=4)
    plain = EpisodeClips(episodes, model, 0.2)
    held = EpisodeClips(episodes, model, 0.2, hold_last_frame=True)
    assert len(plain) == 8 - 3 and len(held) == 8, "every step starts a window"
    last = held[7]["clips"]  # starts at the last step: all four frames are that step
    assert all(torch.equal(last[:, :, 0], last[:, :, i]) for i in range(4))
    torch.testing.assert_close(held[0]["clips"], plain[0]["clips"])
