"""label-bag on synthetic recordings (no rendering): exit status per failure kind, resampling
jittered stamps onto a regular grid, the one-unit summary, truncated MCAP recovery, frame
defaults and metadata, file modes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from bag_fixtures import CAMERAS, ee_pose, write_bag

from action_images_ros.data.bag_reader import BagTopics, GridResampler
from action_images_ros.data.episode import EpisodeError, check_frames, read_episode
from action_images_ros.data.windows import timed_windows
from action_images_ros.label_bag import build_parser, label_bag, main

TOPICS = BagTopics(cameras={c: f"/{c}/image_raw" for c in CAMERAS})
CAMERA_ARGS = [arg for c in CAMERAS for arg in ("--camera", f"{c}=/{c}/image_raw")]


def _run(bags: list[Path], out: Path, *extra: str) -> tuple[int, list[dict]]:
    try:
        code = main([*map(str, bags), "--out", str(out), *CAMERA_ARGS, *extra])
    except SystemExit as exit_info:
        code = exit_info.code
    return code, json.loads((out / "labeling_summary.json").read_text())


@pytest.fixture(scope="module")
def good_bag(tmp_path_factory) -> Path:
    return write_bag(tmp_path_factory.mktemp("bags") / "good", seconds=2.0)


def _truncate(bag: Path, fraction: float) -> None:
    mcap = next(bag.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: int(len(data) * fraction)])


@pytest.mark.parametrize(
    "kind", ["missing", "no_camera_info", "no_frame_set", "unreadable", "cut_to_nothing"]
)
def test_each_failure_kind_sets_the_exit_status(kind: str, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    expected = {
        "missing": "does not exist",
        "no_camera_info": "no camera_info",
        "no_frame_set": "no frame set could be labeled",
        "unreadable": "cannot read bag",
        "cut_to_nothing": "cannot read bag",
    }[kind]
    if kind == "no_camera_info":
        write_bag(bag, seconds=0.5, camera_info=False)
    elif kind == "no_frame_set":
        write_bag(bag, seconds=0.5, encoding_of=lambda i: "yuv422_yuy2")
    elif kind == "unreadable":
        bag.mkdir()
        (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 8}\n")
    elif kind == "cut_to_nothing":
        write_bag(bag, seconds=0.5)
        _truncate(bag, 0.001)
    code, summary = _run([bag], tmp_path / "out")
    assert code == 1
    assert summary[0]["episode"] is None and expected in summary[0]["error"], summary[0]
    assert summary[0]["bag"] == str(bag)


def test_keep_going_labels_the_other_bags_and_still_fails(good_bag: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    code, summary = _run([missing, good_bag], tmp_path / "stop")
    assert code == 1 and "not attempted" in summary[1]["error"]
    code, summary = _run([missing, good_bag], tmp_path / "all", "--keep-going")
    assert code == 1 and summary[1]["error"] is None and summary[1]["steps_written"] == 20
    code, summary = _run([good_bag], tmp_path / "ok")
    assert code == 0


def test_jittered_stamps_resample_to_the_asked_rate(tmp_path: Path) -> None:
    """30 Hz cameras with +-4 ms of jitter at --fps 10: one step per 0.1 s, none dropped."""
    bag = write_bag(tmp_path / "jitter", seconds=4.0, jitter=0.004)
    result = label_bag(bag, tmp_path / "episode", TOPICS, fps=10.0)
    episode = read_episode(tmp_path / "episode")
    gaps = np.diff(episode.timestamps)
    assert episode.steps == 40 and result.missing_steps == 0
    assert np.all(np.abs(gaps - 0.1) < 0.02), gaps
    assert (episode.steps - 1) / (episode.timestamps[-1] - episode.timestamps[0]) == pytest.approx(
        10.0, rel=0.02
    )
    assert result.sets_read == result.steps_written + sum(result.skipped.values())
    np.testing.assert_allclose(
        episode.positions[5], ee_pose(episode.timestamps[5])[:3, 3], atol=1e-3
    )


def test_dropped_frames_are_missing_steps_and_windows_skip_them(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "drops", seconds=3.0, drop=lambda i: 28 <= i <= 32)
    result = label_bag(bag, tmp_path / "episode", TOPICS, fps=10.0)
    episode = read_episode(tmp_path / "episode")
    assert result.missing_steps == 1 and episode.steps == 29
    assert np.diff(episode.timestamps).max() > 0.18, "the episode keeps the real stamps"
    windows = timed_windows(episode.timestamps, 3, 0.2, fps=episode.fps)
    assert windows.skipped == 2, "the windows spanning the gap"
    assert np.all(np.abs(np.diff(episode.timestamps[windows.steps], axis=1) - 0.2) < 0.04)


def test_bad_steps_are_skipped_and_counted_once_per_set(tmp_path: Path) -> None:
    def stamp(i: int, t: float) -> float:
        return t - 0.5 if i in (40, 41) else t  # the clock jumps back for two sets

    bag = write_bag(
        tmp_path / "bad",
        seconds=3.0,
        stamp_of=stamp,
        tf_until=2.5,
        encoding_of=lambda i: "yuv422_yuy2" if i == 15 else "rgb8",
    )
    result = label_bag(bag, tmp_path / "episode", TOPICS, fps=30.0)
    skipped = result.skipped
    assert skipped["stamp not after the previous set (clock jump or duplicate)"] == 2
    assert sum(n for r, n in skipped.items() if r.startswith("image: unsupported")) == 1
    assert sum(n for r, n in skipped.items() if r.startswith("transform:")) >= 10
    assert result.sets_read == 90 == result.steps_written + sum(skipped.values())


def test_truncated_mcap_is_labeled_up_to_the_cut(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "cut", seconds=3.0)
    _truncate(bag, 0.6)
    code, summary = _run([bag], tmp_path / "out")
    assert code == 0
    assert summary[0]["steps_written"] >= 10 and "cut short" in summary[0]["truncated"]
    episode = read_episode(tmp_path / "out" / "cut")
    assert episode.timestamps[-1] < 2.5


def test_frame_defaults_come_from_the_robot_model(good_bag: Path, tmp_path: Path, capsys) -> None:
    parser = build_parser()
    defaults = parser.parse_args(["bag", "--out", "x"])
    assert (defaults.base_frame, defaults.ee_frame, defaults.tip_link) == (
        "panda_link0",
        "panda_hand_tcp",
        "panda_hand_tcp",
    )
    assert "(default: panda_hand_tcp)" in parser.format_help().replace("\n", " ").replace("  ", " ")
    code, _ = _run([good_bag], tmp_path / "out")
    meta = read_episode(tmp_path / "out" / "good", load_video=False).meta
    assert code == 0 and meta["frames"] == {"base": "panda_link0", "end_effector": "panda_hand_tcp"}
    with pytest.raises(EpisodeError, match="different frames"):
        check_frames({"a": meta, "b": {"frames": {"base": "base_link", "end_effector": "tool0"}}})
    modes = {
        name: oct(os.stat(os.path.join(root, name)).st_mode & 0o777)
        for root, _, names in os.walk(tmp_path / "out" / "good")
        for name in names
    }
    assert set(modes.values()) == {oct(0o666 & ~_umask())}, modes


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_the_grid_resampler_picks_the_nearest_item() -> None:
    class Item:
        def __init__(self, stamp: float) -> None:
            self.stamp = stamp

    items = [Item(t) for t in (0.0, 0.03, 0.07, 0.098, 0.13, 0.4, 0.43)]
    resampler = GridResampler(fps=10.0, tolerance=0.02)
    decisions = [d for item in items for d in resampler.push(item)] + resampler.finish()
    chosen = [item.stamp for item, keep in decisions if keep]
    assert chosen == [0.0, 0.098, 0.4] and len(decisions) == len(items)
    assert resampler.missing == 2  # 0.2 and 0.3 s


def test_jobs_label_bags_in_parallel_processes(good_bag: Path, tmp_path: Path) -> None:
    other = write_bag(tmp_path / "other", seconds=1.0, seed=3)
    code, summary = _run(
        [good_bag, other, tmp_path / "missing"], tmp_path / "out", "--jobs", "2", "--keep-going"
    )
    assert code == 1
    assert [entry["steps_written"] for entry in summary] == [20, 10, 0]
    assert "does not exist" in summary[2]["error"]
    first = read_episode(tmp_path / "out" / "good", load_video=False)
    serial = label_bag(good_bag, tmp_path / "serial", TOPICS, fps=10.0)
    assert serial.steps_written == first.steps


def test_a_camera_topic_without_images_fails_the_bag_naming_the_camera(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "silent", seconds=0.5, silent=("right",))
    code, summary = _run([bag], tmp_path / "out", "--camera", "right=/right/image_raw")
    assert code == 1
    assert "right" in summary[0]["error"] and summary[0]["episode"] is None


def test_a_duplicate_stamp_is_skipped_and_counted(tmp_path: Path) -> None:
    def stamp(i: int, t: float) -> float:
        return (i - 1) / 30.0 if i == 21 else t  # frame 21 repeats frame 20's stamp

    bag = write_bag(tmp_path / "dup", seconds=1.0, jitter=0.0, stamp_of=stamp)
    code, summary = _run([bag], tmp_path / "out", "--fps", "30")
    assert code == 0
    duplicate = "stamp not after the previous set (clock jump or duplicate)"
    assert summary[0]["skipped"] == {duplicate: 1}
    assert summary[0]["sets_read"] == 30 and summary[0]["steps_written"] == 29
