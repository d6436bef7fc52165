"""Conversions between ROS 2 messages and the core's arrays.

Only message APIs shared by Humble, Jazzy and Kilted are used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, Quaternion, Transform, TransformStamped, Vector3
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.msg import ActionChunk as ActionChunkMsg


def duration_to_msg(seconds: float) -> Duration:
    """A non-negative duration in seconds as builtin_interfaces/Duration."""
    if not np.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration must be finite and non-negative, got {seconds}")
    nanoseconds = round(seconds * 1e9)
    return Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def duration_from_msg(msg: Duration | Time) -> float:
    """builtin_interfaces/Duration (or Time) in seconds."""
    return msg.sec + msg.nanosec * 1e-9


def action_chunk_to_msg(chunk: ActionChunk, header: Header) -> ActionChunkMsg:
    """A core ActionChunk as action_images_ros/ActionChunk."""
    msg = ActionChunkMsg(header=header)
    msg.poses = [
        Pose(
            position=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
            orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
        )
        for p, q in zip(chunk.positions, chunk.quaternions, strict=True)
    ]
    msg.gripper_openness = chunk.gripper_openness.astype(np.float32).tolist()
    msg.time_from_start = [duration_to_msg(t) for t in chunk.times]
    msg.confidence = chunk.confidence.astype(np.float32).tolist()
    msg.valid = chunk.valid.tolist()
    return msg


def action_chunk_from_msg(msg: ActionChunkMsg) -> ActionChunk:
    """action_images_ros/ActionChunk as a validated core ActionChunk (raises ActionChunkError)."""
    return ActionChunk(
        positions=np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses]),
        quaternions=np.array(
            [
                [p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w]
                for p in msg.poses
            ]
        ).reshape(-1, 4),
        gripper_openness=np.asarray(msg.gripper_openness, dtype=np.float64),
        times=np.array([duration_from_msg(d) for d in msg.time_from_start]),
        confidence=np.asarray(msg.confidence, dtype=np.float64),
        valid=np.asarray(msg.valid, dtype=bool),
    )


def joint_trajectory_to_msg(
    joint_names: Sequence[str],
    positions: np.ndarray,
    times: np.ndarray,
    velocities: np.ndarray | None = None,
    header: Header | None = None,
    accelerations: np.ndarray | None = None,
) -> JointTrajectory:
    """(N, J) joint positions due at `times` (seconds from start) as a JointTrajectory.

    joint_trajectory_controller interpolates linearly through positions only, cubically with
    velocities, and quintically with velocities and accelerations.
    """
    positions = np.asarray(positions, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != len(joint_names):
        raise ValueError(f"positions has shape {positions.shape}, expected (N, {len(joint_names)})")
    if times.shape != (len(positions),):
        raise ValueError(f"times has shape {times.shape}, expected ({len(positions)},)")
    if velocities is not None and np.shape(velocities) != positions.shape:
        raise ValueError(f"velocities has shape {np.shape(velocities)}, expected {positions.shape}")
    if accelerations is not None:
        if velocities is None:
            raise ValueError("accelerations need velocities (quintic interpolation)")
        if np.shape(accelerations) != positions.shape:
            raise ValueError(
                f"accelerations has shape {np.shape(accelerations)}, expected {positions.shape}"
            )
    msg = JointTrajectory(header=header or Header(), joint_names=list(joint_names))
    for i, (q, t) in enumerate(zip(positions, times, strict=True)):
        point = JointTrajectoryPoint(positions=q.tolist(), time_from_start=duration_to_msg(t))
        if velocities is not None:
            point.velocities = np.asarray(velocities[i], dtype=np.float64).tolist()
        if accelerations is not None:
            point.accelerations = np.asarray(accelerations[i], dtype=np.float64).tolist()
        msg.points.append(point)
    return msg


def time_to_msg(seconds: float) -> Time:
    """Seconds (e.g. simulated time) as builtin_interfaces/Time."""
    nanoseconds = round(seconds * 1e9)
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def camera_info_to_msg(k: np.ndarray, width: int, height: int, header: Header) -> CameraInfo:
    """A distortion-free pinhole camera (3x3 K) as sensor_msgs/CameraInfo."""
    k = np.asarray(k, dtype=np.float64)
    projection = np.hstack([k, np.zeros((3, 1))])
    return CameraInfo(
        header=header,
        width=width,
        height=height,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=k.reshape(9).tolist(),
        r=np.eye(3).reshape(9).tolist(),
        p=projection.reshape(12).tolist(),
    )


def transform_to_msg(pose: np.ndarray, parent: str, child: str, stamp: Time) -> TransformStamped:
    """A 4x4 pose of `child` in `parent` as geometry_msgs/TransformStamped."""
    x, y, z, w = Rotation.from_matrix(pose[:3, :3]).as_quat()
    return TransformStamped(
        header=Header(stamp=stamp, frame_id=parent),
        child_frame_id=child,
        transform=Transform(
            translation=Vector3(x=float(pose[0, 3]), y=float(pose[1, 3]), z=float(pose[2, 3])),
            rotation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)),
        ),
    )
