"""`action-images benchmark`: suite dispatch, the Meta-World suite refusing to run without its
environment (naming how to make it), and training's task slots for a suite of many tasks."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from action_images_ros.cli import main
from action_images_ros.model.train import build_model


def test_benchmark_needs_a_known_suite(capsys: pytest.CaptureFixture) -> None:
    for argv, code in ((["benchmark"], 2), (["benchmark", "libero"], 2)):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == code
    assert "unknown benchmark 'libero'; known: metaworld" in capsys.readouterr().err


def test_metaworld_help_lists_the_suite_options(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "metaworld", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--tasks" in out and "--quick" in out and "default: MT10" in out


@pytest.mark.skipif(
    importlib.util.find_spec("metaworld") is not None, reason="metaworld is installed here"
)
def test_metaworld_without_its_environment_names_the_setup(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "metaworld", "--quick", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "scripts/metaworld_env/setup_env.sh" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_training_gives_every_task_of_a_suite_a_slot() -> None:
    args = argparse.Namespace(
        backbone=None, seed=0, frames=None, size=None, config="tiny", views=3, num_tasks=11
    )
    model, vae = build_model(args, None)
    assert vae is None and model.config.num_tasks == 11
    assert model.task_embedding.num_embeddings == 11
