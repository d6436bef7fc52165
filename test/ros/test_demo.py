"""The README's main job runs end to end through ROS 2 and writes its report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as imageio
import pytest

from action_images_ros.sim.panda_sim import render_available

can_render, why_not = render_available()


@pytest.mark.skipif(not can_render, reason=why_not)
def test_demo_runs_episodes_and_writes_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "action_images_ros.demo",
            "--tasks",
            "reach",
            "--expert",
            "--episodes",
            "1",
            "--size",
            "48",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["per_task"]["reach"] == {"episodes": 1, "success_rate": 1.0}
    assert report["episodes"][0]["final"]["distance_m"] < 0.025  # the expert ends on the target
    video = imageio.imread(out / "reach_seed000.mp4")
    assert video.shape[1:] == (48, 3 * 48, 3) and len(video) >= 10
    assert (out / "paths.png").stat().st_size > 10_000
    assert "reach: 100% success" in result.stdout


@pytest.mark.skipif(not can_render, reason=why_not)
def test_demo_runs_a_model_through_the_policy_node(tmp_path: Path) -> None:
    """--checkpoint: the policy node drives the sim; latency and outcome are reported."""
    from action_images_ros.model.config import build_preset
    from action_images_ros.model.loading import create_model

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = create_model(build_preset("tiny", views=3), tasks=["", "pick", "reach"])
    model.save(tmp_path / "model")
    out = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "action_images_ros.demo",
            "--tasks",
            "reach",
            "--episodes",
            "1",
            "--size",
            "48",
            "--out",
            str(out),
            "--checkpoint",
            str(tmp_path / "model"),
            "--inference-steps",
            "2",
            "--real-time-factor",
            "2",
            "--max-duration",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["driver"].startswith("policy node with")
    assert report["per_task"]["reach"]["episodes"] == 1
    episode = report["episodes"][0]
    assert (episode["final"]["distance_m"] < 0.025) == episode["success"]
    latency = report["inference_latency_s"]
    assert latency["chunks"] >= 3 and 0 < latency["p50"] <= latency["max"]
    assert (out / "reach_seed000.mp4").exists() and (out / "paths.png").exists()
