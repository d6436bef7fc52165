from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from action_images_ros.core.calibration import CalibrationError, load_calibration

K = [[100.0, 0, 31.5], [0, 100.0, 23.5], [0, 0, 1]]


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "calibration.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_reads_cameras(tmp_path: Path) -> None:
    pose = np.eye(4)
    pose[:3, 3] = [1.0, 0.0, 0.5]
    path = _write(
        tmp_path,
        {
            "base_frame": "base",
            "cameras": {
                "front": {"width": 64, "height": 48, "K": K, "T_base_camera": pose.tolist()}
            },
        },
    )
    base, cameras = load_calibration(path)
    assert base == "base" and (cameras["front"].width, cameras["front"].height) == (64, 48)
    np.testing.assert_array_equal(cameras["front"].t_base_camera, pose)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"cameras": {}}, "needs 'base_frame'"),
        ({"base_frame": "b", "cameras": {"c": {"K": K}}}, "incomplete"),
        (
            {
                "base_frame": "b",
                "cameras": {
                    "c": {
                        "width": 1,
                        "height": 1,
                        "K": K,
                        "T_base_camera": (2 * np.eye(4)).tolist(),
                    }
                },
            },
            "not a rigid pose",
        ),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, document: dict, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        load_calibration(_write(tmp_path, document))
    with pytest.raises(CalibrationError, match="does not exist"):
        load_calibration(tmp_path / "missing.yaml")
