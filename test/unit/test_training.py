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
    common = ["--config", "tiny", "--views", "2", "--episodes", str(episodes), "--out", str(out),
              "--batch-size", "2", "--checkpoint-every", "3", "--cpu"]  # fmt: skip
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
        Mode.POLICY: 0.8, Mode.ACTION_LABELING: 0.2,
    }  # fmt: skip
    for bad in (["teleport=1"], ["policy=-1"], ["policy=x"], ["policy=0"]):
        with pytest.raises(argparse.ArgumentTypeError, match="--mode-mix"):
            parse_mode_mix(bad)
