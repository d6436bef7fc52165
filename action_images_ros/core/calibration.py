"""Camera calibration files: per-camera intrinsics, image size and T_base_camera.

The format the sim writes and a hand-eye calibration can be written in (YAML or JSON):

    base_frame: panda_link0
    cameras:
      front:                       # camera name; its optical frame is <name>_optical_frame
        width: 256
        height: 256
        K: [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
        T_base_camera: 4x4 rows   # the optical frame (z forward, x right, y down) in the base
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml


class CalibrationError(ValueError):
    """A calibration file that is missing, malformed or lacks a camera."""


@dataclass(frozen=True)
class CameraCalibration:
    width: int
    height: int
    k: np.ndarray  # (3, 3)
    t_base_camera: np.ndarray  # (4, 4)


def load_calibration(path: str | Path) -> tuple[str, dict[str, CameraCalibration]]:
    """The base frame and the cameras of a calibration file (raises CalibrationError)."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"calibration file {path} does not exist")
    try:
        document = yaml.safe_load(path.read_text())
        base_frame, cameras = document["base_frame"], document["cameras"]
    except (yaml.YAMLError, TypeError, KeyError) as error:
        raise CalibrationError(f"{path}: needs 'base_frame' and 'cameras' ({error})") from error
    result = {}
    for name, camera in cameras.items():
        try:
            k = np.asarray(camera["K"], dtype=np.float64)
            pose = np.asarray(camera["T_base_camera"], dtype=np.float64)
            width, height = int(camera["width"]), int(camera["height"])
        except (KeyError, TypeError, ValueError) as error:
            raise CalibrationError(f"{path}: camera '{name}' is incomplete ({error})") from error
        if k.shape != (3, 3) or pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
            raise CalibrationError(f"{path}: camera '{name}' needs a 3x3 K and a finite 4x4 pose")
        rotation = pose[:3, :3]
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-5) or not np.allclose(
            pose[3], [0, 0, 0, 1]
        ):
            raise CalibrationError(f"{path}: camera '{name}' T_base_camera is not a rigid pose")
        result[name] = CameraCalibration(width, height, k, pose)
    return base_frame, result


def write_calibration(
    path: str | Path, base_frame: str, cameras: Mapping[str, Mapping[str, Any]]
) -> Path:
    """Write a calibration file that :func:`load_calibration` reads: `cameras` maps each name
    to its `width`, `height`, `K`, `T_base_camera` (and any extra keys, e.g. `fovy`), as plain
    lists. JSON for `.json` paths, otherwise YAML with one flow list per key (JSON is a YAML
    subset, so both parse either way)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"base_frame": base_frame, "cameras": {n: dict(c) for n, c in cameras.items()}}
    if path.suffix == ".json":
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path
    lines = [f"base_frame: {base_frame}", "cameras:"]
    for name, camera in document["cameras"].items():
        lines.append(f"  {name}:")
        lines += [f"    {key}: {json.dumps(value)}" for key, value in camera.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
