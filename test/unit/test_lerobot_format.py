"""LeRobot v3 export and import: the round trip keeps actions, timestamps and cameras exactly;
broken datasets are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from action_images_ros.data.episode import Episode, read_episode, write_episode
from action_images_ros.data.lerobot import LeRobotError, export_lerobot, import_lerobot


def make_episode(seed: int, task: str) -> Episode:
    rng = np.random.default_rng(seed)
    steps, views = 6, 2
    quaternions = rng.normal(size=(steps, 4))
    extrinsics = np.tile(np.eye(4), (views, 1, 1))
    extrinsics[:, :3, 3] = rng.normal(size=(views, 3))
    return Episode(
        cameras=["front", "left"],
        fps=10.0,
        intrinsics=np.tile([[40.0, 0, 16.5], [0, 41.0, 15.5], [0, 0, 1]], (views, 1, 1)),
        extrinsics=extrinsics,
        # 8 x 8 px blocks of one colour: what H.264 with 4:2:0 chroma keeps closely.
        rgb=rng.integers(0, 255, (steps, views, 4, 4, 3), dtype=np.uint8).repeat(8, 2).repeat(8, 3),
        action_images=np.zeros((steps, views, 32, 32, 3), np.uint8),
        timestamps=1e9 + np.arange(steps) * 0.1 + rng.uniform(-0.004, 0.004, steps),
        positions=rng.normal(size=(steps, 3)),
        quaternions=quaternions / np.linalg.norm(quaternions, axis=1, keepdims=True),
        gripper=rng.uniform(size=steps),
        joint_positions=rng.normal(size=(steps, 7)),
        meta={"task": task, "frames": {"base": "panda_link0", "end_effector": "panda_hand_tcp"}},
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, list[Episode]]:
    root = tmp_path_factory.mktemp("lerobot")
    episodes = [make_episode(0, "reach"), make_episode(1, "pick")]
    for index, episode in enumerate(episodes):
        write_episode(root / "episodes" / f"ep{index}", episode)
    return export_lerobot(root / "episodes", root / "dataset"), episodes


def test_export_has_the_v3_layout_and_features(exported) -> None:
    dataset, _ = exported
    info = json.loads((dataset / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_frames"] == 12
    for key in (
        "observation.images.front",
        "action_images.left",
        "observation.state",
        "action",
        "camera.front.intrinsics",
        "camera.left.extrinsics",
        "stamp",
        "timestamp",
        "frame_index",
        "episode_index",
        "index",
        "task_index",
    ):
        assert key in info["features"], key
    assert all("/" not in key for key in info["features"])
    episodes = pq.read_table(dataset / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["dataset_from_index"] for e in episodes] == [0, 6]
    assert episodes[1]["frames/base"] == "panda_link0"
    assert (dataset / "videos/observation.images.left/chunk-000/file-001.mp4").is_file()
    assert pq.read_table(dataset / "meta/tasks.parquet").to_pydict()["task"] == ["pick", "reach"]


def test_round_trip_keeps_actions_timestamps_and_cameras_exactly(exported, tmp_path) -> None:
    dataset, originals = exported
    paths = import_lerobot(dataset, tmp_path / "back")
    for original, path in zip(originals, paths, strict=True):
        back = read_episode(path)
        for name in (
            "timestamps",
            "positions",
            "quaternions",
            "gripper",
            "intrinsics",
            "extrinsics",
            "joint_positions",
        ):
            np.testing.assert_array_equal(getattr(back, name), getattr(original, name), name)
        assert back.meta["task"] == original.meta["task"]
        assert back.meta["frames"] == original.meta["frames"]
        assert np.abs(back.rgb.astype(int) - original.rgb).mean() < 8


def test_broken_datasets_are_clear_errors(exported, tmp_path) -> None:
    import shutil

    dataset, _ = exported
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    (copy / "videos/observation.images.front/chunk-000/file-001.mp4").unlink()
    with pytest.raises(LeRobotError, match="video file .*file-001.mp4 is missing"):
        import_lerobot(copy, tmp_path / "a")

    shutil.rmtree(copy)
    shutil.copytree(dataset, copy)
    table = pq.read_table(copy / "data/chunk-000/file-001.parquet")
    column = table.column_names.index("episode_index")
    import pyarrow as pa

    table = table.set_column(column, "episode_index", pa.array([0] * table.num_rows, pa.int64()))
    pq.write_table(table, copy / "data/chunk-000/file-001.parquet")
    with pytest.raises(LeRobotError, match="episode 1: the episodes table says 6 frames"):
        import_lerobot(copy, tmp_path / "b")


def test_import_needs_camera_models_or_a_calibration_file(exported, tmp_path) -> None:
    import shutil

    dataset, originals = exported
    copy = tmp_path / "no_models"
    shutil.copytree(dataset, copy)
    info = json.loads((copy / "meta/info.json").read_text())
    info["features"] = {k: v for k, v in info["features"].items() if not k.startswith("camera.")}
    (copy / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(LeRobotError, match="carries no camera models"):
        import_lerobot(copy, tmp_path / "a")
    calibration = tmp_path / "cameras.json"
    first = originals[0]
    calibration.write_text(
        json.dumps(
            {
                c: {
                    "K": first.intrinsics[v].tolist(),
                    "T_base_camera": first.extrinsics[v].tolist(),
                }
                for v, c in enumerate(first.cameras)
            }
        )
    )
    back = read_episode(import_lerobot(copy, tmp_path / "b", calibration)[0])
    np.testing.assert_array_equal(back.extrinsics, first.extrinsics)


def test_export_without_action_images_keeps_cameras_and_actions(tmp_path) -> None:
    originals = [make_episode(7, "pick")]
    write_episode(tmp_path / "episodes" / "e0", originals[0])
    dataset = export_lerobot(tmp_path / "episodes", tmp_path / "cameras_only", action_images=False)
    features = json.loads((dataset / "meta/info.json").read_text())["features"]
    videos = sorted(k for k, f in features.items() if f["dtype"] == "video")
    assert videos == [f"observation.images.{c}" for c in sorted(originals[0].cameras)]
    assert not list((dataset / "videos").glob("action_images.*"))
    (back,) = import_lerobot(dataset, tmp_path / "back")
    episode = read_episode(back)
    np.testing.assert_array_equal(episode.positions, originals[0].positions)
    # The action images are drawn again from the actions and the camera models.
    drawn = read_episode(tmp_path / "episodes" / "e0").action_images
    assert drawn.any()
    np.testing.assert_array_equal(episode.action_images, drawn)
