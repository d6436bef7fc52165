"""Episodes no longer store their action images by default: readers draw them again from the
actions, exactly as they would have been stored; older episodes with action videos still read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from bag_fixtures import CAMERAS, write_bag

from action_images_ros.core.action_images import encode
from action_images_ros.core.cameras import CameraRig
from action_images_ros.core.rotations import quat_to_matrix
from action_images_ros.data.bag_reader import BagTopics
from action_images_ros.data.episode import (
    EpisodeWriter,
    draw_action_images,
    read_episode,
    write_episode,
)
from action_images_ros.label_bag import label_bag

TOPICS = BagTopics(cameras={c: f"/{c}/image_raw" for c in CAMERAS})


def test_redrawn_action_images_equal_the_stored_ones(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=2.0)
    label_bag(bag, tmp_path / "drawn", TOPICS, fps=10.0)
    label_bag(bag, tmp_path / "stored", TOPICS, fps=10.0, store_action_images=True)
    assert not (tmp_path / "drawn" / "action_videos").exists()
    assert sorted(p.name for p in (tmp_path / "stored" / "action_videos").iterdir()) == [
        f"{c}.mkv" for c in sorted(CAMERAS)
    ]
    drawn, stored = read_episode(tmp_path / "drawn"), read_episode(tmp_path / "stored")
    assert drawn.meta == stored.meta and "action_images_stored" not in drawn.meta
    np.testing.assert_array_equal(drawn.quaternions, stored.quaternions)
    np.testing.assert_array_equal(drawn.action_images, stored.action_images)
    assert drawn.action_images[..., 0].max() > 200, "the position blob is drawn"

    # ... and both are what the codec draws from the stored actions and cameras.
    height, width = drawn.rgb.shape[2:4]
    rig = CameraRig.from_arrays(
        drawn.intrinsics, drawn.extrinsics, width, height, dtype=torch.float32
    )
    expected = encode(
        torch.tensor(drawn.positions),
        torch.tensor(quat_to_matrix(drawn.quaternions)),
        torch.tensor(drawn.gripper),
        rig,
        drawn.action_image_config,
    ).to_uint8()
    np.testing.assert_array_equal(drawn.action_images, expected.numpy())


def _camera_arrays() -> tuple[np.ndarray, np.ndarray]:
    k = np.array([[40.0, 0, 15.5], [0, 40.0, 15.5], [0, 0, 1]])
    return k[None], np.eye(4)[None]


def test_episodes_written_with_action_videos_still_read_them(tmp_path: Path) -> None:
    """A format_version 1 episode (action videos always stored, no `action_images_stored`)
    reads its action images from the videos, not from a redraw."""
    intrinsics, extrinsics = _camera_arrays()
    pattern = np.zeros((3, 1, 32, 32, 3), np.uint8)
    pattern[:, :, 8:24, 8:24] = [[[[[10, 200, 60]]]], [[[[0, 0, 255]]]], [[[[90, 9, 9]]]]]
    with EpisodeWriter(
        tmp_path / "old", ["front"], 10.0, intrinsics, extrinsics, store_action_images=True
    ) as writer:
        for step in range(3):
            writer.append(
                step / 10,
                np.full((1, 32, 32, 3), 128, np.uint8),
                pattern[step],
                [0.0, 0.0, 1.0],
                np.eye(3),
                1.0,
            )
    meta_path = tmp_path / "old" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 1
    del meta["action_images_stored"]
    meta_path.write_text(json.dumps(meta))
    episode = read_episode(tmp_path / "old")
    np.testing.assert_array_equal(episode.action_images, pattern)
    np.testing.assert_array_equal(episode.quaternions, np.tile([0, 0, 0, 1.0], (3, 1)))


def test_rotation_matrices_are_stored_as_quaternions_and_undrawable_steps_are_black(
    tmp_path: Path,
) -> None:
    intrinsics, extrinsics = _camera_arrays()
    turn = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])  # 90 degrees about z
    with EpisodeWriter(tmp_path / "ep", ["front"], 10.0, intrinsics, extrinsics) as writer:
        writer.append(0.0, np.zeros((1, 32, 32, 3), np.uint8), None, [0.0, 0, 1], turn, 0.0)
        writer.append(
            0.1,
            np.zeros((1, 32, 32, 3), np.uint8),
            None,
            [0.0, 0, 1],
            [0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)],
            1.0,
        )
    episode = read_episode(tmp_path / "ep")
    np.testing.assert_allclose(episode.quaternions[0], episode.quaternions[1], atol=1e-12)
    assert not (tmp_path / "ep" / "action_videos").exists()
    assert episode.action_images[0, 0, 15:17, 15:17, 0].min() > 200, "p is at the centre"
    assert episode.action_images[0, ..., 2].min() == 0 < episode.action_images[1, ..., 2].min()

    positions = np.array([[0.0, 0, 1], [np.nan, 0, 1]])
    quaternions, config = np.tile([0, 0, 0, 1.0], (2, 1)), episode.action_image_config
    images = draw_action_images(
        positions, quaternions, np.ones(2), intrinsics, extrinsics, 32, 32, config
    )
    assert images[0].max() > 200 and images[1].max() == 0, "nothing to draw for a NaN action"
    write_episode(tmp_path / "copy", episode)
    np.testing.assert_array_equal(
        read_episode(tmp_path / "copy").action_images, episode.action_images
    )


def test_label_bag_command_stores_action_images_only_when_asked(tmp_path: Path) -> None:
    from action_images_ros.label_bag import main

    bag = write_bag(tmp_path / "bag", seconds=1.0)
    cameras = [arg for c in CAMERAS for arg in ("--camera", f"{c}=/{c}/image_raw")]
    for out, extra in (("plain", []), ("stored", ["--store-action-images"])):
        assert main([str(bag), "--out", str(tmp_path / out), *cameras, *extra]) == 0
    assert not (tmp_path / "plain" / "bag" / "action_videos").exists()
    meta = json.loads((tmp_path / "stored" / "bag" / "meta.json").read_text())
    assert meta["action_images_stored"] is True and meta["format_version"] == 2
    assert (tmp_path / "stored" / "bag" / "action_videos" / f"{CAMERAS[0]}.mkv").stat().st_size
