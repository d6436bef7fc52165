"""Recorded sim demonstrations are rosbag2 bags whose CDR bytes rclpy reads back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.core.robot_assets import BASE_FRAME, optical_frame
from action_images_ros.data.bag_recorder import TYPESTORE, BagRecorder
from action_images_ros.nodes.image_conversions import image_to_rgb
from action_images_ros.record_demos import record_episode
from action_images_ros.sim.panda_sim import PandaSim, render_available
from action_images_ros.sim.scene import SceneConfig, default_cameras

can_render, why_not = render_available()
pytestmark = pytest.mark.skipif(not can_render, reason=why_not)


@pytest.fixture(scope="module")
def sim() -> PandaSim:
    sim = PandaSim(SceneConfig(cameras=default_cameras(64, 48)))
    yield sim
    sim.close()


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_recorded_episode_reads_back_with_rclpy(sim: PandaSim, tmp_path: Path, storage: str):
    bag = tmp_path / "reach"
    result = record_episode(sim, "reach", seed=3, bag_path=bag, storage=storage)
    assert result.success
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reach"], "no staging left behind"

    with Reader(bag) as reader:
        topics = {c.topic: c for c in reader.connections}
        cameras = [c.name for c in sim.cameras]
        for camera in cameras:
            assert topics[f"/{camera}/image_raw"].msgcount >= 10
            assert (
                topics[f"/{camera}/camera_info"].msgcount == topics[f"/{camera}/image_raw"].msgcount
            )
        messages = {}
        for connection, timestamp, raw in reader.messages():
            messages.setdefault(connection.topic, []).append((timestamp, raw))

    image_stamp, raw_image = messages[f"/{cameras[0]}/image_raw"][-1]
    image = deserialize_message(raw_image, Image)
    assert (image.width, image.height, image.encoding) == (64, 48, "rgb8")
    assert image.header.frame_id == optical_frame(cameras[0])
    assert image.header.stamp.sec * 10**9 + image.header.stamp.nanosec == image_stamp
    assert image_to_rgb(image).std() > 5, "a rendered scene, not a blank image"

    info = deserialize_message(messages[f"/{cameras[0]}/camera_info"][0][1], CameraInfo)
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), sim.camera_intrinsics(cameras[0]))

    stamps = [t for t, _ in messages["/joint_states"]]
    assert stamps == sorted(stamps)
    last_state = deserialize_message(messages["/joint_states"][-1][1], JointState)
    np.testing.assert_allclose(last_state.position[:7], sim.joint_positions(), atol=1e-9)

    trajectory = deserialize_message(
        messages["/panda_arm_controller/joint_trajectory"][0][1], JointTrajectory
    )
    assert list(trajectory.joint_names) == sim.joint_names
    assert len(trajectory.points) >= 2 and len(trajectory.points[0].velocities) == 7

    (_, raw_static), *_ = messages["/tf_static"]
    static = TYPESTORE.deserialize_cdr(raw_static, "tf2_msgs/msg/TFMessage")
    by_child = {t.child_frame_id: t for t in static.transforms}
    transform = by_child[optical_frame(cameras[1])]
    assert transform.header.frame_id == BASE_FRAME
    translation = transform.transform.translation
    np.testing.assert_allclose(
        [translation.x, translation.y, translation.z],
        sim.camera_extrinsics(cameras[1])[:3, 3],
        atol=1e-9,
    )


def test_a_failed_recording_leaves_no_bag(tmp_path: Path) -> None:
    bag = tmp_path / "broken"
    with pytest.raises(RuntimeError, match="boom"), BagRecorder(bag) as recorder:
        recorder.write_gripper_command(0.0, 1.0)
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_bag_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "bag").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        BagRecorder(tmp_path / "bag")
    with pytest.raises(ValueError, match="storage must be"):
        BagRecorder(tmp_path / "other", storage="rosbag1")
