"""The evaluation command: closed-loop success next to the expert's, labeling error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from action_images_ros.sim.panda_sim import render_available

can_render, why_not = render_available()


@pytest.mark.skipif(not can_render, reason=why_not)
def test_evaluate_reports_model_and_expert_success(tmp_path: Path) -> None:
    import torch

    from action_images_ros.model.config import build_preset
    from action_images_ros.model.loading import create_model

    torch.manual_seed(0)
    create_model(build_preset("tiny", views=3), tasks=["", "reach"]).save(tmp_path / "model")
    out = tmp_path / "eval"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "action_images_ros.cli",
            "evaluate",
            "--checkpoint",
            str(tmp_path / "model"),
            "--tasks",
            "reach",
            "--seeds",
            "1",
            "--first-seed",
            "7",
            "--size",
            "48",
            "--inference-steps",
            "2",
            "--real-time-factor",
            "2",
            "--chunk-merge",
            "inpaint",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["seeds"] == [7, 7] and evaluation["chunk_merge"] == "inpaint"
    assert evaluation["success"]["reach"]["expert"] == 1.0
    # the model's rate is the one its closed-loop episodes reported, episode by episode
    episodes = json.loads((out / "closed_loop" / "report.json").read_text())["episodes"]
    assert [(e["task"], e["seed"]) for e in episodes] == [("reach", 7)]
    assert evaluation["success"]["reach"]["model"] == float(episodes[0]["success"])
    assert episodes[0]["final"]["distance_m"] > 0
    assert evaluation["inference_latency_s"]["chunks"] >= 1
    assert (out / "success.png").stat().st_size > 5_000
    assert (out / "closed_loop" / "reach_seed007.mp4").exists()
    assert "reach: model" in result.stdout and "expert 100%" in result.stdout
