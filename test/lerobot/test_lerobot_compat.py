"""Our LeRobot export loads through the real `lerobot` package (Python 3.12 environment).

The environment is made by scripts/lerobot_check/setup_env.sh; where it is absent this tier
skips with that reason (see test/conftest.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from action_images_ros.data.episode import write_episode
from action_images_ros.data.lerobot import export_lerobot

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from conftest import LEROBOT_PYTHON  # noqa: E402
from test_lerobot_format import make_episode  # noqa: E402

SCRIPT = Path(__file__).parents[2] / "scripts" / "lerobot_check" / "load_export.py"


def test_lerobot_dataset_loads_our_export(tmp_path: Path) -> None:
    for index, task in enumerate(("reach", "pick", "reach")):
        write_episode(tmp_path / "episodes" / f"ep{index}", make_episode(index, task))
    dataset = export_lerobot(tmp_path / "episodes", tmp_path / "dataset")
    result = subprocess.run(
        [str(LEROBOT_PYTHON), str(SCRIPT), str(dataset)], capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout and "3 episodes, 18 frames" in result.stdout
