"""Stream synchronized multi-view frames out of a rosbag2 bag (sqlite3 or MCAP), no ROS needed.

Two passes over the bag keep memory bounded on long recordings: the first reads only the small
topics (TF, joint states, camera infos, gripper); the second streams the images, matches one
frame per camera within `slop`, and yields each set with the camera models and the end-effector
pose at that instant. Nothing is dropped silently: every skipped set comes with a reason.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from scipy.spatial.transform import Rotation

from action_images_ros.core.images import ImageConversionError, compressed_to_rgb, raw_to_rgb
from action_images_ros.core.kinematics import SerialChain
from action_images_ros.core.transforms import TransformBuffer, TransformError
from action_images_ros.sim.scene import URDF_PATH

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)


class BagError(ValueError):
    """A bag that cannot be read as asked (missing, corrupt, missing topics, wrong types)."""


@dataclass(frozen=True)
class BagTopics:
    """Which topics hold what. Cameras map a name to an image topic (Image or
    CompressedImage); their camera_info topic defaults to `<image topic's namespace>/camera_info`.
    """

    cameras: dict[str, str]
    camera_infos: dict[str, str] = field(default_factory=dict)
    joint_states: str = "/joint_states"
    tf: str = "/tf"
    tf_static: str = "/tf_static"
    gripper_joint: str | None = "panda_finger_joint1"
    gripper_open_position: float = 0.04
    base_frame: str = "panda_link0"
    ee_frame: str = "panda_tcp"
    # Where the end-effector pose comes from: "tf" (base_frame -> ee_frame in the bag),
    # "joint_states" (forward kinematics of `arm_joints` on the URDF chain base_frame -> tip_link)
    # or "none" (videos without robot state: FrameSet.ee_pose is None).
    ee_source: str = "tf"
    urdf: str = ""  # "" = the packaged Panda URDF
    tip_link: str = "panda_hand_tcp"
    arm_joints: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8))

    def info_topic(self, camera: str) -> str:
        if camera in self.camera_infos:
            return self.camera_infos[camera]
        namespace = self.cameras[camera].removesuffix("/compressed").rsplit("/", 1)[0]
        return f"{namespace}/camera_info"


@dataclass(frozen=True)
class FrameSet:
    """One synchronized set: stamp (s), per camera RGB, K and T_base_camera, and the robot."""

    stamp: float
    images: dict[str, np.ndarray]
    intrinsics: dict[str, np.ndarray]
    extrinsics: dict[str, np.ndarray]
    ee_pose: np.ndarray | None  # (4, 4) in the base frame; None without robot state
    gripper_openness: float
    joint_positions: np.ndarray | None
    frame_ids: dict[str, str]  # each camera's optical frame


@dataclass
class ReadReport:
    """What was read and what was skipped, with reasons."""

    sets: int = 0
    skipped: Counter = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1


def _stamp(header: object) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def _pose(transform: object) -> np.ndarray:
    pose = np.eye(4)
    r, t = transform.rotation, transform.translation
    pose[:3, :3] = Rotation.from_quat([r.x, r.y, r.z, r.w]).as_matrix()
    pose[:3, 3] = [t.x, t.y, t.z]
    return pose


@contextmanager
def _open(path: Path) -> Iterator[Reader]:
    if not Path(path).exists():
        raise BagError(f"bag {path} does not exist")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # rosbags raises several types for broken bags
        raise BagError(f"cannot read bag {path}: {error}") from error
    try:
        yield reader
    finally:
        reader.close()


class BagFrames:
    """Iterate a bag's synchronized frame sets; `report` tells what was skipped and why."""

    def __init__(self, path: str | Path, topics: BagTopics, slop: float = 0.02) -> None:
        self.path, self.topics, self.slop = Path(path), topics, slop
        if topics.ee_source not in ("tf", "joint_states", "none"):
            raise BagError(
                f"ee_source must be 'tf', 'joint_states' or 'none', got '{topics.ee_source}'"
            )
        self.chain = None
        if topics.ee_source == "joint_states":
            self.chain = SerialChain.from_urdf(
                topics.urdf or URDF_PATH, topics.base_frame, topics.tip_link
            )
        self.report = ReadReport()
        self.transforms = TransformBuffer(tolerance=0.05)
        self.infos: dict[str, np.ndarray] = {}
        self.joint_names: list[str] = []
        self.joints: list[tuple[float, np.ndarray]] = []
        self._read_small_topics()

    def _connections(self, reader: Reader, wanted: set[str]) -> list:
        present = {c.topic for c in reader.connections}
        return [c for c in reader.connections if c.topic in wanted & present]

    def _read_small_topics(self) -> None:
        t = self.topics
        with _open(self.path) as reader:
            present = {c.topic: c.msgtype for c in reader.connections}
            missing = [topic for topic in t.cameras.values() if topic not in present]
            if missing:
                raise BagError(f"{self.path}: no messages on {missing}; topics: {sorted(present)}")
            images = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
            wrong = {topic: present[topic] for topic in t.cameras.values()
                     if present[topic] not in images}  # fmt: skip
            if wrong:
                raise BagError(f"{self.path}: camera topics must carry images, got {wrong}")
            info_topics = {t.info_topic(c): c for c in t.cameras}
            small = {t.tf, t.tf_static, t.joint_states, *info_topics}
            for connection, _, raw in reader.messages(self._connections(reader, small)):
                msg = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
                topic = connection.topic
                if topic in (t.tf, t.tf_static):
                    for tf in msg.transforms:
                        self.transforms.add(
                            tf.header.frame_id, tf.child_frame_id, _stamp(tf.header),
                            _pose(tf.transform), static=topic == t.tf_static,
                        )  # fmt: skip
                elif topic == t.joint_states:
                    self.joint_names = list(msg.name)
                    self.joints.append((_stamp(msg.header), np.asarray(msg.position)))
                elif topic in info_topics:
                    self.infos.setdefault(info_topics[topic], np.reshape(msg.k, (3, 3)))
        lacking = [c for c in t.cameras if c not in self.infos]
        if lacking:
            raise BagError(f"{self.path}: no camera_info for cameras {lacking}")

    def __iter__(self) -> Iterator[FrameSet]:
        t = self.topics
        by_topic = {topic: camera for camera, topic in t.cameras.items()}
        pending: dict[str, deque[tuple[float, object, str]]] = {c: deque() for c in t.cameras}
        last_stamp = -np.inf
        with _open(self.path) as reader:
            for connection, _, raw in reader.messages(self._connections(reader, set(by_topic))):
                camera = by_topic[connection.topic]
                msg = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
                pending[camera].append((_stamp(msg.header), msg, msg.header.frame_id))
                while all(pending.values()):
                    stamps = [queue[0][0] for queue in pending.values()]
                    if max(stamps) - min(stamps) > self.slop:  # drop the oldest, unmatched
                        oldest = min(pending, key=lambda c: pending[c][0][0])
                        pending[oldest].popleft()
                        self.report.skip(f"{oldest}: no frame of every camera within slop")
                        continue
                    entries = {c: queue.popleft() for c, queue in pending.items()}
                    stamp = min(entry[0] for entry in entries.values())
                    if stamp <= last_stamp:
                        self.report.skip("stamp not after the previous set")
                        continue
                    frame_set = self._frame_set(stamp, entries)
                    if frame_set is not None:
                        last_stamp = stamp
                        self.report.sets += 1
                        yield frame_set
        for camera, queue in pending.items():
            for _ in queue:
                self.report.skip(f"{camera}: no frame of every camera within slop")

    def _frame_set(self, stamp: float, entries: dict) -> FrameSet | None:
        images, extrinsics = {}, {}
        try:
            for camera, (_, msg, frame_id) in entries.items():
                if hasattr(msg, "format"):
                    images[camera] = compressed_to_rgb(msg.format, msg.data.tobytes())
                else:
                    images[camera] = raw_to_rgb(
                        msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                        msg.data.tobytes(),
                    )  # fmt: skip
                extrinsics[camera] = self.transforms.lookup(self.topics.base_frame, frame_id, stamp)
            ee_pose = self._ee_pose(stamp)
        except ImageConversionError as error:
            self.report.skip(f"image: {error}")
            return None
        except TransformError as error:
            self.report.skip(f"transform: {error}")
            return None
        return FrameSet(
            stamp=stamp,
            images=images,
            intrinsics=dict(self.infos),
            extrinsics=extrinsics,
            ee_pose=ee_pose,
            gripper_openness=self._gripper_at(stamp),
            joint_positions=self._joints_at(stamp),
            frame_ids={camera: entry[2] for camera, entry in entries.items()},
        )

    def _ee_pose(self, stamp: float) -> np.ndarray | None:
        if self.topics.ee_source == "none":
            return None
        if self.chain is None:
            return self.transforms.lookup(self.topics.base_frame, self.topics.ee_frame, stamp)
        joints = self._joints_at(stamp)
        missing = [j for j in self.topics.arm_joints if j not in self.joint_names]
        if joints is None or missing:
            raise TransformError(f"joint states lack {missing or 'every joint'}")
        q = np.array([joints[self.joint_names.index(j)] for j in self.topics.arm_joints])
        return self.chain.fk(q)

    def _joints_at(self, stamp: float) -> np.ndarray | None:
        if not self.joints:
            return None
        times = np.array([s for s, _ in self.joints])
        return self.joints[int(np.argmin(np.abs(times - stamp)))][1]

    def _gripper_at(self, stamp: float) -> float:
        """Measured opening of `gripper_joint` over its open position; 1 when not recorded."""
        joints, name = self._joints_at(stamp), self.topics.gripper_joint
        if joints is None or name not in self.joint_names:
            return 1.0
        opening = joints[self.joint_names.index(name)] / self.topics.gripper_open_position
        return float(np.clip(opening, 0.0, 1.0))
