"""The evaluation command's labeling error (the closed-loop part is in test/ros)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_fixtures import write_toy_episodes


def test_labeling_error_compares_decoded_labels_with_the_recorded_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A labeler that is off by 1 cm in x and 10 degrees about z, and wrong about the gripper on
    every step, with one undecodable step per window: the metrics must say exactly that."""
    from action_images_ros import evaluate
    from action_images_ros.data.episode import read_episode
    from action_images_ros.model.config import build_preset
    from action_images_ros.model.labeling import LabeledWindow, ModelLabeler
    from action_images_ros.model.loading import create_model

    episodes = write_toy_episodes(tmp_path / "episodes", count=1, steps=8)
    create_model(build_preset("tiny", views=2)).save(tmp_path / "model")
    truth = read_episode(next(episodes.iterdir()))
    turn = np.array(
        [[np.cos(0.1745), -np.sin(0.1745), 0], [np.sin(0.1745), np.cos(0.1745), 0], [0, 0, 1]]
    )

    def label(self, frames, intrinsics, extrinsics) -> LabeledWindow:
        start = int(np.flatnonzero((truth.rgb == frames[0]).all(axis=(1, 2, 3, 4)))[0])
        steps = np.arange(start, start + len(frames))
        return LabeledWindow(
            action_images=np.zeros_like(frames),
            positions=truth.positions[steps] + [0.01, 0, 0],
            rotations=np.stack([turn] * len(frames)),
            gripper=1 - truth.gripper[steps],
            confidence=np.ones(len(frames)),
            valid=np.arange(len(frames)) > 0,
        )

    monkeypatch.setattr(ModelLabeler, "label", label)
    result = evaluate.labeling_error(tmp_path / "model", episodes, inference_steps=1)
    assert result["steps"] == 6 and result["decoded_fraction"] == pytest.approx(4 / 6)
    assert result["position_error_mm"] == pytest.approx(10.0)
    assert result["rotation_error_deg"] == pytest.approx(10.0, abs=0.01)
    assert result["gripper_accuracy"] == 0.0


def test_policy_error_compares_chunks_with_the_demonstration(tmp_path: Path) -> None:
    from action_images_ros import evaluate
    from action_images_ros.model.config import build_preset
    from action_images_ros.model.loading import create_model

    episodes = write_toy_episodes(tmp_path / "episodes", count=2, steps=8)  # reach, pick
    create_model(build_preset("tiny", views=2), tasks=["", "pick", "reach"]).save(
        tmp_path / "model"
    )
    result = evaluate.policy_error(tmp_path / "model", episodes, inference_steps=1)
    assert set(result) == {"reach", "pick"}
    for error in result.values():
        assert error["windows"] == 6  # 8 steps, chunks reach 2 steps ahead
        # the toy path moves 0.2 m in 7 steps: standing still misses by 2 steps of it
        assert error["standing_still_mm"] == pytest.approx(2 * 200 / 7)
        assert np.isfinite(error["model_mm"])
