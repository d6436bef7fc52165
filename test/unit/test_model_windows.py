"""Model labeling windows come from the steps' stamps, as in training: frames the model's
frame_interval apart, each step in one window, steps off the interval skipped and counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from bag_fixtures import CAMERAS, write_bag

from action_images_ros.data.bag_reader import BagTopics
from action_images_ros.data.episode import read_episode
from action_images_ros.data.windows import WindowStream, disjoint, timed_windows
from action_images_ros.label_bag import _describe, label_bag


def test_the_window_stream_splits_steps_into_timed_windows() -> None:
    times = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2])  # 0.5 missing
    stream = WindowStream(frames=3, interval=0.2, tolerance=0.04)
    events = [event for i, t in enumerate(times) for event in stream.push(t, i)]
    events += stream.finish()
    assert events == [
        ("window", [0, 2, 4]),
        ("gap", 1),
        ("gap", 3),
        ("window", [5, 7, 9]),
        ("window", [6, 8, 10]),
        ("end", 11),
    ]
    batch = timed_windows(times, 3, 0.2, tolerance=0.04).steps.tolist()
    assert all(steps in batch for kind, steps in events if kind == "window")


def test_label_bag_with_a_model_skips_and_counts_windows_across_a_gap(tmp_path: Path) -> None:
    from action_images_ros.model.config import build_preset
    from action_images_ros.model.labeling import ModelLabeler
    from action_images_ros.model.loading import create_model

    # Camera frames 14-19 (0.47-0.63 s) dropped: the steps due at 0.5 and 0.6 s are missing.
    bag = write_bag(tmp_path / "gap", seconds=2.0, drop=lambda i: 14 <= i <= 19)
    torch.manual_seed(0)
    model = create_model(build_preset("tiny", views=2), views=list(CAMERAS))
    assert model.config.frame_interval == 0.2 and model.config.frames == 3
    topics = BagTopics(cameras={c: f"/{c}/image_raw" for c in CAMERAS}, ee_source="none")
    result = label_bag(
        bag,
        tmp_path / "episode",
        topics,
        fps=10.0,
        labeler=ModelLabeler(model, num_inference_steps=1),
    )
    episode = read_episode(tmp_path / "episode")
    # Steps at 0.0-0.4 s and 0.7-1.9 s. Windows: (0.0, 0.2, 0.4); 0.1 and 0.3 s have no step
    # 0.2 s later (0.5 missing); (0.7, 0.9, 1.1), (0.8, 1.0, 1.2), (1.3, 1.5, 1.7),
    # (1.4, 1.6, 1.8); the last step (1.9 s) cannot fill a window.
    assert result.missing_steps == 2
    gap = "no model window from this step (a gap in time off the model's frame interval)"
    assert result.windows_skipped == 2 and result.skipped[gap] == 2
    assert result.skipped["the last frames do not fill a model window"] == 1
    assert result.sets_read == result.steps_written + sum(result.skipped.values())
    assert episode.steps == result.steps_written == 18 - 2 - 1
    labeled = np.round(episode.timestamps, 1).tolist()
    assert labeled == [0.0, 0.2, 0.4, *np.round(np.arange(0.7, 1.85, 0.1), 1).tolist()]
    assert "2 model windows skipped for gaps in time" in _describe(result)


def test_disjoint_windows_share_no_step_and_keep_time_order() -> None:
    times = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8, 0.9])  # 0.6 is missing
    windows = timed_windows(times, frames=3, interval=0.1, fps=10.0)
    kept = disjoint(windows.steps)
    assert kept.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert disjoint(windows.steps[:0]).shape == (0, 3)
