"""Record what a robot publishes (cameras, joint states, TF, commands) to a rosbag2 file.

Pure Python through `rosbags`: the bag holds the same topics, types and CDR bytes that
`ros2 bag record` would write on a real robot, so offline labeling and training consume
exactly what they would get there. The bag is written to a temporary directory beside the
target and moved into place on `close()`, so a crash never leaves a half-written bag.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from scipy.spatial.transform import Rotation

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
_T = TYPESTORE.types
_NEVER = QosTime(sec=0x7FFFFFFF, nsec=0xFFFFFFFF)
# What `ros2 bag play` needs to replay /tf_static latched, as tf2's static broadcaster offers it.
LATCHED_QOS = Qos(
    history=QosHistory.KEEP_LAST,
    depth=1,
    reliability=QosReliability.RELIABLE,
    durability=QosDurability.TRANSIENT_LOCAL,
    deadline=_NEVER,
    lifespan=_NEVER,
    liveliness=QosLiveliness.AUTOMATIC,
    liveliness_lease_duration=_NEVER,
    avoid_ros_namespace_conventions=False,
)


@dataclass(frozen=True)
class RobotTopics:
    """The topic names a robot (the sim, or a real one) publishes and is commanded on."""

    image: str = "/{camera}/image_raw"
    camera_info: str = "/{camera}/camera_info"
    joint_states: str = "/joint_states"
    tf: str = "/tf"
    tf_static: str = "/tf_static"
    joint_trajectory: str = "/panda_arm_controller/joint_trajectory"
    gripper_command: str = "/gripper_controller/commands"


def _stamp(seconds: float) -> object:
    nanoseconds = round(seconds * 1e9)
    return _T["builtin_interfaces/msg/Time"](
        sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000
    )


def _duration(seconds: float) -> object:
    nanoseconds = round(seconds * 1e9)
    return _T["builtin_interfaces/msg/Duration"](
        sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000
    )


def _header(seconds: float, frame_id: str) -> object:
    return _T["std_msgs/msg/Header"](stamp=_stamp(seconds), frame_id=frame_id)


def transform_stamped(seconds: float, parent: str, child: str, pose: np.ndarray) -> object:
    """A geometry_msgs/TransformStamped (rosbags type) of a 4x4 pose of `child` in `parent`."""
    x, y, z, w = Rotation.from_matrix(pose[:3, :3]).as_quat()
    return _T["geometry_msgs/msg/TransformStamped"](
        header=_header(seconds, parent),
        child_frame_id=child,
        transform=_T["geometry_msgs/msg/Transform"](
            translation=_T["geometry_msgs/msg/Vector3"](*map(float, pose[:3, 3])),
            rotation=_T["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
        ),
    )


class BagRecorder:
    """Writes robot topics to a rosbag2 bag (MCAP by default, or sqlite3).

    Use as a context manager; the bag appears at `path` only when it is closed.
    """

    def __init__(
        self, path: str | Path, storage: str = "mcap", topics: RobotTopics | None = None
    ) -> None:
        if storage not in ("mcap", "sqlite3"):
            raise ValueError(f"storage must be 'mcap' or 'sqlite3', got '{storage}'")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} already exists")
        self.topics = topics or RobotTopics()
        # Written under a staging directory with its final name (the storage file is named
        # after the bag directory), then moved into place.
        self._staging = self.path.with_name(f".{self.path.name}.partial")
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging.mkdir(parents=True)
        self._partial = self._staging / self.path.name
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self._partial, version=8, storage_plugin=plugin)
        self._writer.open()
        self._connections: dict[str, object] = {}
        self.message_count = 0

    def __enter__(self) -> BagRecorder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType
    ) -> None:
        self.close(keep=kind is None)

    def close(self, keep: bool = True) -> None:
        """Finish the bag and move it into place (or discard it with `keep=False`)."""
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        if keep:
            self._partial.rename(self.path)
        shutil.rmtree(self._staging, ignore_errors=True)

    def write(self, topic: str, msgtype: str, seconds: float, message: object) -> None:
        """Serialize and write one message (a rosbags message of `msgtype`) at `seconds`."""
        if topic not in self._connections:
            qos = [LATCHED_QOS] if topic == self.topics.tf_static else []
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=TYPESTORE, offered_qos_profiles=qos
            )
        data = TYPESTORE.serialize_cdr(message, msgtype)
        self._writer.write(self._connections[topic], round(seconds * 1e9), data)
        self.message_count += 1

    def write_image(
        self, topic: str, seconds: float, rgb: np.ndarray, frame_id: str, compression: str = ""
    ) -> None:
        """An rgb8 sensor_msgs/Image, or with `compression` 'jpeg' or 'png' a
        sensor_msgs/CompressedImage on `<topic>/compressed` (as image_transport names it)."""
        height, width, _ = rgb.shape
        header = _header(seconds, frame_id)
        if compression:
            if compression not in ("jpeg", "png"):
                raise ValueError(f"compression must be jpeg or png, got '{compression}'")
            ok, data = cv2.imencode(".jpg" if compression == "jpeg" else ".png", rgb[..., ::-1])
            message = _T["sensor_msgs/msg/CompressedImage"](
                header=header, format=compression, data=data.reshape(-1)
            )
            self.write(f"{topic}/compressed", "sensor_msgs/msg/CompressedImage", seconds, message)
            return
        image = _T["sensor_msgs/msg/Image"](
            header=header,
            height=height,
            width=width,
            encoding="rgb8",
            is_bigendian=0,
            step=width * 3,
            data=np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1),
        )
        self.write(topic, "sensor_msgs/msg/Image", seconds, image)

    def write_camera(
        self,
        seconds: float,
        camera: str,
        rgb: np.ndarray,
        k: np.ndarray,
        frame_id: str,
        compression: str = "",
    ) -> None:
        """One camera frame (see `write_image`) and its pinhole sensor_msgs/CameraInfo."""
        height, width, _ = rgb.shape
        self.write_image(
            self.topics.image.format(camera=camera), seconds, rgb, frame_id, compression
        )
        projection = np.hstack([k, np.zeros((3, 1))])
        info = _T["sensor_msgs/msg/CameraInfo"](
            header=_header(seconds, frame_id),
            height=height,
            width=width,
            distortion_model="plumb_bob",
            d=np.zeros(5),
            k=np.asarray(k, dtype=np.float64).reshape(9),
            r=np.eye(3).reshape(9),
            p=projection.reshape(12),
            binning_x=0,
            binning_y=0,
            roi=_T["sensor_msgs/msg/RegionOfInterest"](
                x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
            ),
        )
        self.write(
            self.topics.camera_info.format(camera=camera),
            "sensor_msgs/msg/CameraInfo",
            seconds,
            info,
        )

    def copy_from(self, source: str | Path) -> int:
        """Copy every message of another bag, with its connections' definitions and QoS
        (custom message types included); returns the number copied."""
        copied = 0
        with Reader(source) as reader:
            connections = {}
            for c in reader.connections:
                connections[c.id] = self._connections.get(c.topic) or self._writer.add_connection(
                    c.topic,
                    c.msgtype,
                    msgdef=c.msgdef.data,
                    rihs01=c.digest,
                    offered_qos_profiles=c.ext.offered_qos_profiles,
                )
                self._connections[c.topic] = connections[c.id]
            for connection, timestamp, raw in reader.messages():
                self._writer.write(connections[connection.id], timestamp, raw)
                copied += 1
        self.message_count += copied
        return copied

    def write_joint_state(
        self, seconds: float, names: list[str], positions: np.ndarray, velocities: np.ndarray
    ) -> None:
        """A sensor_msgs/JointState."""
        message = _T["sensor_msgs/msg/JointState"](
            header=_header(seconds, ""),
            name=list(names),
            position=np.asarray(positions, dtype=np.float64),
            velocity=np.asarray(velocities, dtype=np.float64),
            effort=np.zeros(0),
        )
        self.write(self.topics.joint_states, "sensor_msgs/msg/JointState", seconds, message)

    def write_transforms(
        self, seconds: float, transforms: list[tuple[str, str, np.ndarray]], static: bool = False
    ) -> None:
        """A tf2_msgs/TFMessage of (parent, child, 4x4 pose of child in parent) on /tf(_static)."""
        message = _T["tf2_msgs/msg/TFMessage"](
            transforms=[transform_stamped(seconds, p, c, pose) for p, c, pose in transforms]
        )
        topic = self.topics.tf_static if static else self.topics.tf
        self.write(topic, "tf2_msgs/msg/TFMessage", seconds, message)

    def write_joint_trajectory(
        self,
        seconds: float,
        joint_names: list[str],
        times: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray | None = None,
    ) -> None:
        """A trajectory_msgs/JointTrajectory as commanded to the arm controller."""
        points = [
            _T["trajectory_msgs/msg/JointTrajectoryPoint"](
                positions=np.asarray(q, dtype=np.float64),
                velocities=np.zeros(0) if velocities is None else np.asarray(velocities[i]),
                accelerations=np.zeros(0),
                effort=np.zeros(0),
                time_from_start=_duration(t),
            )
            for i, (t, q) in enumerate(zip(times, positions, strict=True))
        ]
        message = _T["trajectory_msgs/msg/JointTrajectory"](
            header=_header(seconds, ""), joint_names=list(joint_names), points=points
        )
        self.write(
            self.topics.joint_trajectory, "trajectory_msgs/msg/JointTrajectory", seconds, message
        )

    def write_gripper_command(self, seconds: float, openness: float) -> None:
        """A std_msgs/Float64MultiArray [openness] as commanded to the gripper."""
        message = _T["std_msgs/msg/Float64MultiArray"](
            layout=_T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0),
            data=np.array([openness], dtype=np.float64),
        )
        self.write(self.topics.gripper_command, "std_msgs/msg/Float64MultiArray", seconds, message)
