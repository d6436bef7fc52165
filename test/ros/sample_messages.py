"""Messages with known contents, shared by the publisher process and the tests."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.msg import ActionChunk as ActionChunkMsg
from action_images_ros.nodes.conversions import action_chunk_to_msg, joint_trajectory_to_msg

JOINT_NAMES = [f"panda_joint{i}" for i in range(1, 8)]
JOINT_POSITIONS = np.array(
    [[0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785], [0.1, -0.7, 0.05, -2.2, 0.02, 1.6, 0.8]]
)
JOINT_VELOCITIES = np.array([[0.0] * 7, [0.0] * 7])
JOINT_TIMES = np.array([0.5, 1.25])


def sample_chunk() -> ActionChunk:
    angles = np.linspace(0.0, np.pi / 2, 4)
    quaternions = np.stack(
        [np.sin(angles / 2), np.zeros(4), np.zeros(4), np.cos(angles / 2)], axis=1
    )
    return ActionChunk(
        positions=np.array(
            [[0.4, 0.0, 0.3], [0.45, 0.05, 0.28], [0.5, 0.1, 0.25], [0.5, 0.1, 0.2]]
        ),
        quaternions=quaternions,
        gripper_openness=np.array([1.0, 1.0, 0.5, 0.0]),
        times=np.array([0.1, 0.2, 0.3, 0.4]),
        confidence=np.array([0.9, 0.8, 0.75, 0.5]),
        valid=np.array([True, True, False, True]),
    )


def sample_joint_trajectory_msg() -> JointTrajectory:
    return joint_trajectory_to_msg(JOINT_NAMES, JOINT_POSITIONS, JOINT_TIMES, JOINT_VELOCITIES)


def sample_action_chunk_msg(stamp: Time) -> ActionChunkMsg:
    return action_chunk_to_msg(sample_chunk(), Header(stamp=stamp, frame_id="panda_link0"))
