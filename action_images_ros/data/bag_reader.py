"""Stream synchronized multi-view frames out of a rosbag2 bag (sqlite3 or MCAP), no ROS needed.

Two passes over the bag keep memory bounded on long recordings: the first reads only the small
topics (TF, joint states, camera infos); the second streams the images, matches one frame per
camera within `slop` (reading only each message's header), resamples the matched sets onto a
regular `fps` grid (for each due time the set nearest to it, within `slop`), and decodes only the
sets it keeps, with the camera models and the end-effector pose at that instant.

Nothing is dropped silently, and the report counts in one unit: every matched set read is
either yielded or skipped with one reason; camera frames that matched no set and grid steps
with no set near them are counted apart. A truncated MCAP is read up to the cut (see bag_source).
"""

from __future__ import annotations

import math
import re
import struct
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rosbags.typesys import Stores, get_typestore
from scipy.spatial.transform import Rotation

from action_images_ros.core.images import ImageConversionError, compressed_to_rgb, raw_to_rgb
from action_images_ros.core.kinematics import SerialChain
from action_images_ros.core.robot_assets import PANDA_URDF, TOOL_FRAME, base_frame
from action_images_ros.core.transforms import TransformBuffer, TransformError
from action_images_ros.data.bag_source import BagError, BagSource, Truncation

__all__ = ["BagError", "BagFrames", "BagTopics", "FrameSet", "GridResampler", "ReadReport"]

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
URDF_PATH = PANDA_URDF


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
    # With a topic here (std_msgs/Float64MultiArray, data[0] the commanded openness 0..1, as
    # the sim's and the policy's gripper command), the gripper is the newest command at each
    # set (open before the first) instead of gripper_joint's measured opening.
    gripper_command: str | None = None
    base_frame: str = field(default_factory=base_frame)  # the URDF's root link
    ee_frame: str = TOOL_FRAME
    # Where the end-effector pose comes from: "tf" (base_frame -> ee_frame in the bag),
    # "joint_states" (forward kinematics of `arm_joints` on the URDF chain base_frame -> tip_link)
    # or "none" (videos without robot state: FrameSet.ee_pose is None).
    ee_source: str = "tf"
    urdf: str = ""  # "" = the packaged Panda URDF
    tip_link: str = TOOL_FRAME
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
    """What was read, in one unit: matched camera sets.

    `sets` matched sets were read; each was yielded or skipped once, with a reason in `skipped`
    (so sets == yielded + sum(skipped)). Camera frames that matched no set (`unmatched_frames`,
    per camera) and due grid steps with no set within the slop (`missing_steps`) are not sets
    and are counted apart. `truncation` says where a cut MCAP file ended.
    """

    sets: int = 0
    yielded: int = 0
    skipped: Counter = field(default_factory=Counter)
    unmatched_frames: Counter = field(default_factory=Counter)
    missing_steps: int = 0
    truncation: Truncation | None = None

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1


@dataclass(frozen=True)
class _Candidate:
    """A matched camera set before decoding: per camera (stamp, message type, CDR, frame id)."""

    stamp: float
    entries: dict[str, tuple[float, str, bytes, str]]


class GridResampler:
    """Picks, for each due time t0 + k / fps on a regular grid, the item nearest to it.

    Items (anything with a `stamp`, in increasing stamp order) are pushed one by one; each gets
    exactly one decision, returned by `push` / `finish` as (item, chosen). A due time with no
    item within `tolerance` is a missing step (`missing`). Each item serves one due time at most.
    The grid starts at the first item's stamp. Memory: only the items that may still be chosen.
    """

    def __init__(self, fps: float, tolerance: float) -> None:
        if not fps > 0 or not tolerance >= 0:
            raise ValueError(f"need fps > 0 and tolerance >= 0, got {fps} and {tolerance}")
        self.fps, self.tolerance = fps, tolerance
        self.missing = 0
        self._start: float | None = None
        self._k = 0
        self._buffer: deque = deque()

    def _due(self) -> float:
        return self._start + self._k / self.fps

    def push(self, item: object) -> list[tuple[object, bool]]:
        if self._start is None:
            self._start = item.stamp
        decisions: list[tuple[object, bool]] = []
        while item.stamp > self._due() + self.tolerance:
            if not self._buffer:  # a gap: every due time before this item is missing
                gap = (item.stamp - self.tolerance - self._due()) * self.fps
                skip = max(1, math.ceil(gap - 1e-9))
                self.missing += skip
                self._k += skip
                continue
            self._resolve(decisions)
        self._buffer.append(item)
        return decisions

    def finish(self) -> list[tuple[object, bool]]:
        decisions: list[tuple[object, bool]] = []
        while self._buffer:
            if self._buffer[-1].stamp < self._due() - self.tolerance:  # past the last due time
                decisions += [(item, False) for item in self._buffer]
                self._buffer.clear()
                break
            self._resolve(decisions)
        return decisions

    def _resolve(self, decisions: list[tuple[object, bool]]) -> None:
        """Decide the current due time from the buffer, then move to the next one."""
        due = self._due()
        near = [item for item in self._buffer if abs(item.stamp - due) <= self.tolerance]
        if near:
            best = min(near, key=lambda item: abs(item.stamp - due))
            while self._buffer[0] is not best:
                decisions.append((self._buffer.popleft(), False))
            decisions.append((self._buffer.popleft(), True))
        else:
            self.missing += 1
        self._k += 1
        next_due = self._due()
        while self._buffer and self._buffer[0].stamp < next_due - self.tolerance:
            decisions.append((self._buffer.popleft(), False))


def _stamp(header: object) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def _header_of(raw: bytes) -> tuple[float, str]:
    """The std_msgs/Header (stamp, frame_id) that begins a CDR-serialized Image or
    CompressedImage, read without deserializing the pixels."""
    order = "<" if raw[1] == 1 else ">"
    sec, nanosec, length = struct.unpack_from(f"{order}iII", raw, 4)
    frame_id = bytes(raw[16 : 16 + max(length - 1, 0)]).decode()
    return sec + nanosec * 1e-9, frame_id


_IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


class BagFrames:
    """Iterate a bag's synchronized frame sets; `report` tells what was read and skipped.

    With `fps`, the sets are resampled onto a regular grid at that rate (see GridResampler,
    tolerance `slop`); without, every matched set is yielded. Each yielded set keeps its own
    stamp (the oldest of its frames), so the episode records when each step really was.
    """

    def __init__(
        self,
        path: str | Path,
        topics: BagTopics,
        slop: float = 0.02,
        fps: float | None = None,
    ) -> None:
        self.path, self.topics, self.slop, self.fps = Path(path), topics, slop, fps
        if topics.ee_source not in ("tf", "joint_states", "none"):
            raise BagError(
                f"ee_source must be 'tf', 'joint_states' or 'none', got '{topics.ee_source}'"
            )
        if fps is not None and not fps > 0:
            raise BagError(f"fps must be positive, got {fps}")
        self.chain = None
        if topics.ee_source == "joint_states":
            try:
                self.chain = SerialChain.from_urdf(
                    topics.urdf or URDF_PATH, topics.base_frame, topics.tip_link
                )
            except (ValueError, KeyError, OSError) as error:
                raise BagError(f"cannot build the arm chain from the URDF: {error}") from error
        self.report = ReadReport()
        self.transforms = TransformBuffer(tolerance=0.05)
        self._static_cameras: dict[str, np.ndarray] = {}  # frame -> pose in the base frame
        self.infos: dict[str, np.ndarray] = {}
        self.joint_names: list[str] = []
        self._joint_times = np.zeros(0)
        self._joint_positions: list[np.ndarray] = []
        self._command_times, self._commands = np.zeros(0), np.zeros(0)
        self.source = BagSource(self.path)
        try:
            self._read_small_topics()
        except BaseException:
            self.source.close()
            raise

    def close(self) -> None:
        """Close the bag (iterating again reopens it)."""
        self.source.close()

    def _read_small_topics(self) -> None:
        t, present = self.topics, self.source.topics
        missing = [topic for topic in t.cameras.values() if topic not in present]
        if missing:
            raise BagError(f"{self.path}: no messages on {missing}; topics: {sorted(present)}")
        wrong = {
            topic: present[topic]
            for topic in t.cameras.values()
            if present[topic] not in _IMAGE_TYPES
        }
        if wrong:
            raise BagError(f"{self.path}: camera topics must carry images, got {wrong}")
        info_topics = {t.info_topic(c): c for c in t.cameras}
        if t.gripper_command is not None and t.gripper_command not in present:
            raise BagError(
                f"{self.path}: no messages on the gripper command topic {t.gripper_command}; "
                f"topics: {sorted(present)}"
            )
        small = {t.tf, t.tf_static, t.joint_states, *info_topics}
        if t.gripper_command is not None:
            small.add(t.gripper_command)
        times, command_times, commands = [], [], []
        edges: list[tuple[str, str, float, bool]] = []  # parent, child, stamp, static
        rotations: list[tuple[float, float, float, float]] = []
        translations: list[tuple[float, float, float]] = []
        for topic, msgtype, log_time, raw in self.source.messages(small):
            if topic in info_topics and info_topics[topic] in self.infos:
                continue  # the first camera_info of each camera is used: skip deserializing
            msg = TYPESTORE.deserialize_cdr(raw, msgtype)
            if topic in (t.tf, t.tf_static):
                for tf in msg.transforms:
                    r, p = tf.transform.rotation, tf.transform.translation
                    edges.append(
                        (
                            tf.header.frame_id,
                            tf.child_frame_id,
                            _stamp(tf.header),
                            topic == t.tf_static,
                        )
                    )
                    rotations.append((r.x, r.y, r.z, r.w))
                    translations.append((p.x, p.y, p.z))
            elif topic == t.joint_states:
                self.joint_names = list(msg.name)
                times.append(_stamp(msg.header))
                self._joint_positions.append(np.asarray(msg.position))
            elif topic in info_topics:
                self.infos.setdefault(info_topics[topic], np.reshape(msg.k, (3, 3)))
            elif topic == t.gripper_command:
                if len(msg.data) < 1 or not np.isfinite(msg.data[0]):
                    raise BagError(
                        f"{self.path}: a {topic} message has no finite openness: {msg.data}"
                    )
                command_times.append(log_time)
                commands.append(float(np.clip(msg.data[0], 0.0, 1.0)))
        self._add_transforms(edges, rotations, translations)
        order = np.argsort(command_times, kind="stable")
        self._command_times = np.asarray(command_times)[order]
        self._commands = np.asarray(commands)[order]
        order = np.argsort(times, kind="stable")
        self._joint_times = np.asarray(times)[order]
        self._joint_positions = [self._joint_positions[i] for i in order]
        lacking = [c for c in t.cameras if c not in self.infos]
        if lacking:
            raise BagError(f"{self.path}: no camera_info for cameras {lacking}")

    def _add_transforms(
        self, edges: list[tuple[str, str, float, bool]], rotations: list, translations: list
    ) -> None:
        """Add the bag's transforms in bag order, their quaternions turned into matrices in one
        call (per transform, the conversion cost as much as the rest of reading TF)."""
        if not edges:
            return
        quaternions = np.array(rotations)
        norms = np.linalg.norm(quaternions, axis=1)
        poses = np.tile(np.eye(4), (len(edges), 1, 1))
        usable = np.isfinite(norms) & (norms > 0)
        poses[usable, :3, :3] = Rotation.from_quat(quaternions[usable]).as_matrix()
        poses[~usable] = np.nan  # refused by the buffer, naming the edge
        poses[:, :3, 3] = translations
        for (parent, child, stamp, static), pose in zip(edges, poses, strict=True):
            try:
                self.transforms.add(parent, child, stamp, pose, static=static)
            except TransformError as error:
                raise BagError(f"{self.path}: {error}") from error

    def _candidates(self) -> Iterator[_Candidate]:
        """Matched camera sets, in stamp order, headers only (pixels stay serialized)."""
        t = self.topics
        by_topic = {topic: camera for camera, topic in t.cameras.items()}
        pending: dict[str, deque[tuple[float, str, bytes, str]]] = {c: deque() for c in t.cameras}
        last_stamp = -np.inf
        for topic, msgtype, _, raw in self.source.messages(set(by_topic)):
            camera = by_topic[topic]
            stamp, frame_id = _header_of(raw)
            pending[camera].append((stamp, msgtype, raw, frame_id))
            while all(pending.values()):
                stamps = [queue[0][0] for queue in pending.values()]
                if max(stamps) - min(stamps) > self.slop:  # drop the oldest, unmatched
                    oldest = min(pending, key=lambda c: pending[c][0][0])
                    pending[oldest].popleft()
                    self.report.unmatched_frames[oldest] += 1
                    continue
                entries = {c: queue.popleft() for c, queue in pending.items()}
                set_stamp = min(entry[0] for entry in entries.values())
                self.report.sets += 1
                if set_stamp <= last_stamp:
                    self.report.skip("stamp not after the previous set (clock jump or duplicate)")
                    continue
                last_stamp = set_stamp
                yield _Candidate(set_stamp, entries)
        for camera, queue in pending.items():
            if queue:
                self.report.unmatched_frames[camera] += len(queue)
        self.report.truncation = self.source.truncation

    def __iter__(self) -> Iterator[FrameSet]:
        resampler = GridResampler(self.fps, self.slop) if self.fps else None
        thinned = f"thinned to {self.fps} Hz (not the set nearest a due time)"

        def decide(decisions: list[tuple[_Candidate, bool]]) -> Iterator[FrameSet]:
            for candidate, chosen in decisions:
                if not chosen:
                    self.report.skip(thinned)
                    continue
                frame_set = self._frame_set(candidate)
                if frame_set is not None:
                    self.report.yielded += 1
                    yield frame_set

        for candidate in self._candidates():
            if resampler is None:
                yield from decide([(candidate, True)])
            else:
                yield from decide(resampler.push(candidate))
        if resampler is not None:
            yield from decide(resampler.finish())
            self.report.missing_steps = resampler.missing

    def _frame_set(self, candidate: _Candidate) -> FrameSet | None:
        images, extrinsics = {}, {}
        stamp = candidate.stamp
        try:
            for camera, (_, msgtype, raw, frame_id) in candidate.entries.items():
                msg = TYPESTORE.deserialize_cdr(raw, msgtype)
                if msgtype.endswith("CompressedImage"):
                    images[camera] = compressed_to_rgb(msg.format, msg.data.tobytes())
                else:
                    images[camera] = raw_to_rgb(
                        msg.encoding,
                        msg.height,
                        msg.width,
                        msg.step,
                        msg.is_bigendian,
                        msg.data.tobytes(),
                    )
                extrinsics[camera] = self._camera_pose(frame_id, stamp)
            ee_pose = self._ee_pose(stamp)
        except ImageConversionError as error:
            self.report.skip(f"image: {error}")
            return None
        except TransformError as error:  # one reason per missing edge, whatever the stamp
            reason = re.sub(r", not at -?[0-9.e+-]+ s$", ": asked outside that span", str(error))
            self.report.skip(f"transform: {reason}")
            return None
        joints = self._joints_at(stamp)
        return FrameSet(
            stamp=stamp,
            images=images,
            intrinsics=dict(self.infos),
            extrinsics=extrinsics,
            ee_pose=ee_pose,
            gripper_openness=self._gripper_at(stamp, joints),
            joint_positions=joints,
            frame_ids={camera: entry[3] for camera, entry in candidate.entries.items()},
        )

    def _camera_pose(self, frame_id: str, stamp: float) -> np.ndarray:
        """The camera's pose in the base frame at `stamp`; looked up once for a camera fixed
        to the base by static transforms (the usual case)."""
        cached = self._static_cameras.get(frame_id)
        if cached is not None:
            return cached.copy()
        transforms, base = self.transforms, self.topics.base_frame
        pose = transforms.lookup(base, frame_id, stamp)
        if transforms.is_static(frame_id) and transforms.is_static(base):
            self._static_cameras[frame_id] = pose
        return pose.copy()

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
        """The joint state nearest in time to `stamp` (None without joint states)."""
        times = self._joint_times
        if not len(times):
            return None
        index = int(np.searchsorted(times, stamp))
        if index == len(times) or (index > 0 and stamp - times[index - 1] < times[index] - stamp):
            index -= 1
        return self._joint_positions[index]

    def _gripper_at(self, stamp: float, joints: np.ndarray | None) -> float:
        """With `gripper_command`: the newest command at or before `stamp` (recorded time), 1
        (open) before the first. Else the measured opening of `gripper_joint` (in the joint
        state `joints`) over its open position; 1 when not recorded."""
        if self.topics.gripper_command is not None:
            index = int(np.searchsorted(self._command_times, stamp + 1e-9, side="right")) - 1
            return 1.0 if index < 0 else float(self._commands[index])
        name = self.topics.gripper_joint
        if joints is None or name not in self.joint_names:
            return 1.0
        opening = joints[self.joint_names.index(name)] / self.topics.gripper_open_position
        return float(np.clip(opening, 0.0, 1.0))
