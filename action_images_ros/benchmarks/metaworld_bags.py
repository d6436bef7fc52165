"""Meta-World demonstrations through the real-data path: recorded as rosbag2, labeled by label-bag.

A demonstration is written as a robot's recording would be (data.bag_recorder, MCAP): each
camera's rgb8 image and camera_info, the cameras' optical frames on /tf_static, the hand target
(the mocap body the expert pulls the hand to, frame `hand_target`) and the measured hand (`hand`)
on /tf, the arm's joint states and the gripper command (/gripper_controller/commands), every
topic stamped at the frame's time. `label_demonstration` then turns the bag into an episode with
label-bag's own pipeline (data.bag_reader: synchronized sets, TF lookups, the gripper from its
command topic), so the episodes are those `record_demonstration` writes directly, read back from
bytes a real robot's bag would hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from action_images_ros.benchmarks.metaworld_rollouts import (
    DRAWING,
    frame_interval,
    run_expert,
)
from action_images_ros.core.robot_assets import optical_frame
from action_images_ros.core.rotations import quat_to_matrix
from action_images_ros.data.bag_reader import BagTopics
from action_images_ros.data.bag_recorder import BagRecorder, RobotTopics
from action_images_ros.sim.metaworld_adapter import BASE_BODY, MetaWorldError, MetaWorldScene

HAND_TARGET_FRAME = "hand_target"  # what the expert commands and a policy's targets mean
HAND_FRAME = "hand"  # the measured hand (recorded, not used for labels)
ARM_JOINTS = tuple(f"right_j{i}" for i in range(7))
TOPICS = RobotTopics()


def _pose(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, position
    return pose


def record_demonstration_bag(
    scene: MetaWorldScene, seed: int, bag: Path, frame_stride: int
) -> tuple[bool, int]:
    """Run the task's scripted expert from `seed` and record it as the rosbag2 `bag` (see the
    module docstring). Returns (success, environment steps); a failed demonstration leaves no
    bag."""
    scene.reset(seed)
    intrinsics, extrinsics = scene.intrinsics(), scene.extrinsics()
    recorder = BagRecorder(bag, topics=TOPICS)

    def record() -> None:
        t = scene.steps * scene.dt
        rotation = quat_to_matrix(scene.hand_quaternion()[None])[0]
        recorder.write_gripper_command(t, scene.gripper_command)
        recorder.write_transforms(
            t,
            [
                (BASE_BODY, HAND_TARGET_FRAME, _pose(scene.commanded_position(), rotation)),
                (BASE_BODY, HAND_FRAME, _pose(scene.hand_position(), rotation)),
            ],
        )
        recorder.write_joint_state(
            t, list(ARM_JOINTS), scene.joint_positions(), np.zeros(len(ARM_JOINTS))
        )
        for camera, rgb, k in zip(scene.cameras, scene.render(), intrinsics, strict=True):
            recorder.write_camera(t, camera, rgb, k, optical_frame(camera))

    try:
        recorder.write_transforms(
            0.0,
            [
                (BASE_BODY, optical_frame(camera), pose)
                for camera, pose in zip(scene.cameras, extrinsics, strict=True)
            ],
            static=True,
        )
        success = run_expert(scene, frame_stride, record)
    except BaseException:
        recorder.close(keep=False)
        raise
    recorder.close(keep=success)
    return success, scene.steps


def bag_topics(cameras: list[str]) -> BagTopics:
    """What label-bag reads from a Meta-World bag."""
    return BagTopics(
        cameras={camera: TOPICS.image.format(camera=camera) for camera in cameras},
        base_frame=BASE_BODY,
        ee_frame=HAND_TARGET_FRAME,
        ee_source="tf",
        gripper_joint=None,
        gripper_command=TOPICS.gripper_command,
        arm_joints=ARM_JOINTS,
    )


def label_demonstration(
    bag: Path, out: Path, scene: MetaWorldScene, frame_stride: int, seed: int
) -> int:
    """Label `bag` (recorded by record_demonstration_bag) into the episode `out` with
    label-bag's pipeline; returns its steps. Raises MetaWorldError when a recorded frame did
    not become a step (nothing is dropped silently)."""
    from action_images_ros.label_bag import label_bag

    interval = frame_interval(scene, frame_stride)
    result = label_bag(
        bag,
        out,
        bag_topics(list(scene.cameras)),
        fps=1.0 / interval,
        slop=interval / 4,
        config=DRAWING,
        meta={"task": scene.task, "seed": seed, "success": True},
    )
    if result.failed or result.skipped or result.missing_steps:
        raise MetaWorldError(
            f"labeling {bag} lost frames: {result.error or ''} skipped {result.skipped}, "
            f"{result.missing_steps} steps without a camera set"
        )
    return result.steps_written
