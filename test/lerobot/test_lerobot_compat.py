"""Our LeRobot export loads through the real `lerobot` package (Python 3.12 environment).

The environment is made by scripts/lerobot_check/setup_env.sh; where it is absent this tier
skips with that reason (see test/conftest.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from test_lerobot_format import make_episode

from action_images_ros.data.episode import write_episode
from action_images_ros.data.lerobot import export_lerobot

SCRIPT = Path(__file__).parents[2] / "scripts" / "lerobot_check" / "load_export.py"


def test_lerobot_dataset_loads_our_export(tmp_path: Path, lerobot_python: Path) -> None:
    for index, task in enumerate(("reach", "pick", "reach")):
        write_episode(tmp_path / "episodes" / f"ep{index}", make_episode(index, task))
    dataset = export_lerobot(tmp_path / "episodes", tmp_path / "dataset")
    result = subprocess.run(
        [str(lerobot_python), str(SCRIPT), str(dataset)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout and "3 episodes, 18 frames" in result.stdout
