"""Camera extrinsics for the nodes, from TF or from a calibration file, behind one interface.

Both answer: the pose (4x4) of a camera's optical frame in the robot base frame at a stamp, or
None when it is not known (yet).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from scipy.spatial.transform import Rotation

from action_images_ros.core.calibration import CalibrationError, load_calibration
from action_images_ros.core.robot_assets import OPTICAL_SUFFIX


class ExtrinsicsSource(Protocol):
    def lookup(self, frame_id: str, stamp: float) -> np.ndarray | None:
        """The pose, or None; then `why_not` says why."""
        ...

    def why_not(self, frame_id: str) -> str: ...


class CalibrationExtrinsics:
    """Fixed camera poses from a calibration file (the sim's, or a hand-eye calibration).

    A frame `<name>_optical_frame` (or `<name>`) is looked up as camera `<name>`. A file that
    does not exist yet (the sim writes it when it starts) is read at the first lookup that finds
    it; until then, and for a malformed file, lookups return None and `why_not` names the
    problem.
    """

    def __init__(self, path: str, base_frame: str) -> None:
        self.path, self.base_frame = path, base_frame
        self.poses: dict[str, np.ndarray] | None = None
        self.error = ""
        self._load()

    def _load(self) -> None:
        try:
            file_base, cameras = load_calibration(self.path)
            if file_base != self.base_frame:
                raise CalibrationError(
                    f"{self.path} is in frame '{file_base}', expected '{self.base_frame}'"
                )
        except CalibrationError as error:
            self.error = str(error)
            return
        self.poses = {name: camera.t_base_camera for name, camera in cameras.items()}
        self.error = ""

    def lookup(self, frame_id: str, stamp: float) -> np.ndarray | None:
        if self.poses is None:
            self._load()
        if self.poses is None:
            return None
        return self.poses.get(frame_id.removesuffix(OPTICAL_SUFFIX).lstrip("/"))

    def why_not(self, frame_id: str) -> str:
        return self.error or f"{self.path} has no camera for frame '{frame_id}'"


class TfExtrinsics:
    """Camera poses from TF (tf2_ros), at the image stamp, waiting for nothing."""

    def __init__(self, node: Node, base_frame: str) -> None:
        from tf2_ros import Buffer, TransformListener  # only on a ROS distribution

        self.base_frame, self.error = base_frame, ""
        self.buffer = Buffer()
        self.listener = TransformListener(self.buffer, node)

    def lookup(self, frame_id: str, stamp: float) -> np.ndarray | None:
        from tf2_ros import TransformException

        try:
            when = Time(nanoseconds=round(stamp * 1e9))
            transform = self.buffer.lookup_transform(self.base_frame, frame_id, when).transform
        except TransformException as error:
            self.error = str(error)
            return None
        pose = np.eye(4)
        rotation = transform.rotation
        pose[:3, :3] = Rotation.from_quat(
            [rotation.x, rotation.y, rotation.z, rotation.w]
        ).as_matrix()
        pose[:3, 3] = [transform.translation.x, transform.translation.y, transform.translation.z]
        return pose

    def why_not(self, frame_id: str) -> str:
        return f"no transform {self.base_frame} -> {frame_id}: {self.error}"


def make_extrinsics_source(
    node: Node, source: str, calibration_file: str, base_frame: str
) -> ExtrinsicsSource:
    """`source` is 'tf' or 'calibration'; errors name what is missing."""
    if source == "calibration":
        return CalibrationExtrinsics(calibration_file, base_frame)
    if source == "tf":
        try:
            return TfExtrinsics(node, base_frame)
        except ImportError as error:
            raise RuntimeError(
                "extrinsics_source 'tf' needs tf2_ros (a ROS distribution); use 'calibration' "
                "with a calibration file instead"
            ) from error
    raise ValueError(f"extrinsics_source must be 'tf' or 'calibration', got '{source}'")
