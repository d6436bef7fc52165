"""`action-images benchmark metaworld --quick`: the whole pipeline in seconds (record, train a
tiny task-conditioned model, evaluate next to the expert, report), and its bad input. Runs in
the Meta-World environment; skipped elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from action_images_ros import cli
from action_images_ros.data.episode import find_episodes, read_episode
from action_images_ros.data.video import read_video
from action_images_ros.model.config import PRESETS

pytest.importorskip("metaworld", reason="needs the Meta-World environment (metaworld 3.1.1)")

TASKS = ["reach", "button-press-topdown"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("metaworld") / "run"
    with pytest.raises(SystemExit) as exit_status:
        cli.main(
            ["benchmark", "metaworld", "--quick", "--rosbag", "--tasks", *TASKS, "--out", str(out)]
        )
    assert exit_status.value.code == 0
    return out


def test_quick_run_reports_every_task_next_to_the_expert(quick_run: Path) -> None:
    report = json.loads((quick_run / "report.json").read_text())
    assert list(report["tasks"]) == TASKS
    assert report["evaluation_seeds"] == [1000, 1001]
    assert report["demonstration_seeds"] == {"reach": [0], "button-press-topdown": [0]}
    for result in report["tasks"].values():
        assert result["expert_success"] == 1.0  # the experts solve these seeds
        assert 0.0 <= result["success"] <= 1.0 and result["episodes"] == 2
        assert result["chunks"] >= 2 and result["inference_s_per_chunk"] > 0
        video = read_video(quick_run / result["video"])
        assert video.shape[1:] == (32, 96, 3)  # three 32 px views side by side
    assert report["mean_expert_success"] == 1.0 and report["training_steps"] == 2
    assert report["demonstrations_via"] == "rosbag2 + label-bag"
    assert sorted(p.parent.name for p in (quick_run / "bags").glob("*/seed0000")) == sorted(TASKS)
    assert (quick_run / "success.png").stat().st_size > 0
    assert "| mean |" in (quick_run / "report.md").read_text()
    episodes = [read_episode(p, load_video=False) for p in find_episodes(quick_run / "episodes")]
    assert sorted(e.meta["task"] for e in episodes) == sorted(TASKS)
    config = json.loads((quick_run / "training" / "model" / "policy_config.json").read_text())
    assert config["tasks"] == ["", *sorted(TASKS)]
    assert config["views"] == ["corner", "corner2", "topview"]


def run(argv: list[str]) -> tuple[object, str]:
    with pytest.raises(SystemExit) as exit_status:
        cli.main(["benchmark", "metaworld", *argv])
    return exit_status.value.code, str(exit_status.value.code)


def test_model_for_other_views_or_tasks_is_refused(quick_run: Path, tmp_path: Path) -> None:
    model = str(quick_run / "training" / "model")
    common = ["--quick", "--model", model, "--out", str(tmp_path)]
    code, message = run([*common, "--tasks", "reach", "--cameras", "corner", "corner3", "topview"])
    assert "trained for the views ['corner', 'corner2', 'topview']" in message
    code, message = run([*common, "--tasks", "reach", "pick-place"])
    assert "knows no task ['pick-place']" in message


def test_unknown_task_or_camera_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _ = run(["--quick", "--tasks", "reach", "pick-plac", "--out", str(tmp_path)])
    assert code == 2
    assert "unknown Meta-World task 'pick-plac'; known tasks: assembly" in capsys.readouterr().err
    code, message = run(
        ["--quick", "--tasks", "reach", "--cameras", "corner", "front", "--out", str(tmp_path)]
    )
    assert "no camera ['front']" in message
    code, _ = run(["--quick", "--tasks", "reach", "--config", "huge", "--out", str(tmp_path)])
    presets = ", ".join(sorted(PRESETS))
    assert code == 2
    assert f"--config 'huge' is no preset; presets: {presets}" in capsys.readouterr().err
    assert not list(tmp_path.glob("episodes/*"))  # nothing recorded before the refusal
