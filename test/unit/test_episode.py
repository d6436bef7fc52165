from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from action_images_ros.core.action_images import ActionImageConfig, encode
from action_images_ros.core.cameras import CameraRig
from action_images_ros.data.episode import (
    Episode,
    EpisodeError,
    EpisodeWriter,
    find_episodes,
    read_episode,
    write_episode,
)


def _episode(steps: int = 6, size: int = 48) -> Episode:
    rng = np.random.default_rng(0)
    k = np.array([[40.0, 0, 23.5], [0, 40.0, 23.5], [0, 0, 1]])
    poses = np.stack([np.eye(4), np.eye(4)])
    poses[1, :3, 3] = [0.3, 0.0, 0.0]
    rig = CameraRig.from_arrays([k, k], poses, size, size)
    positions = np.column_stack([rng.uniform(-0.1, 0.1, (steps, 2)), np.full(steps, 1.0)])
    rotations = np.tile(np.eye(3), (steps, 1, 1))
    gripper = np.array([1.0, 1, 1, 0, 0, 0])[:steps]
    action_images = (
        encode(torch.tensor(positions), torch.tensor(rotations), torch.tensor(gripper), rig)
        .to_uint8()
        .numpy()
    )
    rgb = rng.integers(0, 256, (steps, 2, size, size, 3), dtype=np.uint8)
    rgb = np.repeat(np.repeat(rgb[:, :, ::8, ::8], 8, axis=2), 8, axis=3)  # video-friendly blocks
    return Episode(
        cameras=["front", "side"],
        fps=10.0,
        intrinsics=np.stack([k, k]),
        extrinsics=poses,
        rgb=rgb,
        action_images=action_images,
        timestamps=np.arange(steps) / 10.0,
        positions=positions,
        quaternions=np.tile([0, 0, 0, 1.0], (steps, 1)),
        gripper=gripper,
        joint_positions=rng.normal(size=(steps, 7)),
        meta={"task": "reach", "success": True},
    )


def test_round_trip_keeps_actions_exactly_and_action_images_losslessly(tmp_path: Path) -> None:
    episode = _episode()
    write_episode(tmp_path / "ep", episode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep"]
    back = read_episode(tmp_path / "ep")
    np.testing.assert_array_equal(back.action_images, episode.action_images)
    assert np.abs(back.rgb.astype(int) - episode.rgb).mean() < 6  # H.264 on random blocks
    for name in ("timestamps", "positions", "quaternions", "gripper", "joint_positions"):
        np.testing.assert_array_equal(getattr(back, name), getattr(episode, name))
    np.testing.assert_array_equal(back.extrinsics, episode.extrinsics)
    assert back.meta == {"task": "reach", "success": True} and back.cameras == ["front", "side"]
    assert back.action_image_config == ActionImageConfig.paper()


def test_interrupted_writes_leave_nothing(tmp_path: Path) -> None:
    episode = _episode()
    with (
        pytest.raises(RuntimeError, match="stop"),
        EpisodeWriter(
            tmp_path / "ep", episode.cameras, 10.0, episode.intrinsics, episode.extrinsics
        ) as writer,
    ):
        writer.append(
            0.0,
            episode.rgb[0],
            episode.action_images[0],
            episode.positions[0],
            episode.quaternions[0],
            1.0,
        )
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_bad_episodes_are_refused(tmp_path: Path) -> None:
    episode = _episode()
    write_episode(tmp_path / "ep", episode)
    with pytest.raises(EpisodeError, match="already exists"):
        write_episode(tmp_path / "ep", episode)
    with pytest.raises(EpisodeError, match="not a readable episode"):
        read_episode(tmp_path / "missing")
    with pytest.raises(EpisodeError, match="positions has shape"):
        Episode(**{**episode.__dict__, "positions": episode.positions[:2]})
    writer = EpisodeWriter(
        tmp_path / "e2", episode.cameras, 10.0, episode.intrinsics, episode.extrinsics
    )
    with pytest.raises(EpisodeError, match="need \\(V=2"):
        writer.append(
            0.0,
            episode.rgb[0, :1],
            episode.action_images[0, :1],
            np.zeros(3),
            np.array([0, 0, 0, 1.0]),
            1.0,
        )
    with pytest.raises(EpisodeError, match="no steps"):
        writer.close()


def test_find_episodes_at_any_depth_through_links_each_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_episode(data / "reach" / "a", _episode())
    write_episode(tmp_path / "elsewhere" / "b", _episode())
    (data / "pick").symlink_to(tmp_path / "elsewhere")  # a dataset assembled from links
    (data / "again").symlink_to(data / "reach")  # the same folder twice
    (data / "reach" / "loop").symlink_to(data)  # a link loop
    found = find_episodes(data)
    assert sorted(p.name for p in found) == ["a", "b"] and found == sorted(found)
    assert find_episodes(tmp_path / "nothing") == []
