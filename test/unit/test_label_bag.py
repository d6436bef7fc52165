"""Recorded sim demonstrations become episodes whose action images decode to the robot's path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from rosbags.rosbag2 import Reader

from action_images_ros.core.action_decoding import decode
from action_images_ros.core.cameras import CameraRig
from action_images_ros.data.bag_reader import BagTopics
from action_images_ros.data.episode import read_episode
from action_images_ros.label_bag import label_bag, main
from action_images_ros.record_demos import record_episode
from action_images_ros.sim.panda_sim import PandaSim, render_available
from action_images_ros.sim.scene import SceneConfig, default_cameras

can_render, why_not = render_available()
pytestmark = pytest.mark.skipif(not can_render, reason=why_not)


def test_label_bags_into_episodes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sim = PandaSim(SceneConfig(cameras=default_cameras(64, 64)))
    bag = tmp_path / "bags" / "pick"
    record_episode(sim, "pick", seed=2, bag_path=bag)
    sim.close()
    broken = tmp_path / "bags" / "broken"
    broken.mkdir()
    out = tmp_path / "episodes"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                str(bag),
                str(broken),
                "--out",
                str(out),
                "--fps",
                "5",
                "--overlay",
                "--annotated-bags",
                "--keep-going",
            ]
        )
    assert exit_info.value.code == 1, "a bag failed"

    episode = read_episode(tmp_path / "episodes" / "pick")
    assert episode.steps >= 10 and episode.cameras == ["front", "left", "right"]
    assert np.allclose(np.diff(episode.timestamps), 0.2, atol=0.021), "resampled to 5 Hz"
    assert episode.gripper.min() < 0.5 < episode.gripper.max(), "the grasp closes the gripper"
    rig = CameraRig.from_arrays(episode.intrinsics, episode.extrinsics, 64, 64)
    decoded = decode(torch.tensor(episode.action_images), rig)
    error = np.linalg.norm(decoded.positions.numpy() - episode.positions, axis=1)
    assert decoded.valid.all() and error.max() < 2e-3, "action images encode the recorded path"
    assert (tmp_path / "episodes" / "pick.mp4").stat().st_size > 1000

    summary = json.loads((tmp_path / "episodes" / "labeling_summary.json").read_text())
    assert summary[0]["steps_written"] == episode.steps
    assert any(reason.startswith("thinned to 5.0 Hz") for reason in summary[0]["skipped"])
    assert summary[1]["episode"] is None and "cannot read bag" in summary[1]["error"]
    assert "FAILED" in capsys.readouterr().out

    with Reader(out / "pick_annotated") as annotated, Reader(bag) as original:
        counts = {c.topic: c.msgcount for c in annotated.connections}
        for connection in original.connections:
            assert counts[connection.topic] == connection.msgcount, connection.topic
        assert counts["/front/action_image"] == episode.steps


def test_compressed_camera_bags(tmp_path: Path) -> None:
    sim = PandaSim(SceneConfig(cameras=default_cameras(64, 64)))
    bag = tmp_path / "reach_jpeg"
    record_episode(sim, "reach", seed=4, bag_path=bag, compression="jpeg")
    sim.close()
    cameras = {c: f"/{c}/image_raw/compressed" for c in ("front", "left", "right")}
    result = label_bag(bag, tmp_path / "episode", BagTopics(cameras=cameras), fps=10.0)
    episode = read_episode(tmp_path / "episode")
    assert result.steps == episode.steps >= 10
    assert episode.rgb.std() > 5, "decoded camera frames, not blank ones"


def test_model_labeling_without_robot_state(tmp_path: Path) -> None:
    """An (untrained) model labels a bag without robot state; what it cannot decode is flagged."""
    from action_images_ros.model.config import build_preset
    from action_images_ros.model.labeling import ModelLabeler
    from action_images_ros.model.loading import create_model

    sim = PandaSim(SceneConfig(cameras=default_cameras(32, 32)))
    bag = tmp_path / "reach"
    record_episode(sim, "reach", seed=5, bag_path=bag)
    sim.close()
    torch.manual_seed(0)
    model = create_model(build_preset("tiny", views=3))
    cameras = {c: f"/{c}/image_raw" for c in ("front", "left", "right")}
    result = label_bag(
        bag,
        tmp_path / "episode",
        BagTopics(cameras=cameras, ee_source="none"),
        fps=10.0,
        labeler=ModelLabeler(model, num_inference_steps=2),
    )
    episode = read_episode(tmp_path / "episode")
    assert result.steps == episode.steps and episode.steps % 3 == 0
    assert episode.meta["actions_from"] == "model"
    assert np.all(episode.confidence[~episode.valid] == 0)
    assert result.skipped.get("the last frames do not fill a model window", 0) < 3
