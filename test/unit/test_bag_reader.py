"""Synchronized frame sets out of recorded sim bags, with skip reasons and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from action_images_ros.data.bag_reader import BagError, BagFrames, BagTopics
from action_images_ros.record_demos import record_episode
from action_images_ros.sim.panda_sim import PandaSim, render_available
from action_images_ros.sim.scene import SceneConfig, default_cameras

can_render, why_not = render_available()
pytestmark = pytest.mark.skipif(not can_render, reason=why_not)
TOPICS = BagTopics(cameras={c: f"/{c}/image_raw" for c in ("front", "left", "right")})


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Path, PandaSim]:
    sim = PandaSim(SceneConfig(cameras=default_cameras(48, 48)))
    bag = tmp_path_factory.mktemp("bags") / "pick"
    record_episode(sim, "pick", seed=1, bag_path=bag)
    yield bag, sim
    sim.close()


def test_frame_sets_carry_images_cameras_and_the_end_effector(recorded) -> None:
    bag, sim = recorded
    frames = BagFrames(bag, TOPICS)
    sets = list(frames)
    assert len(sets) >= 20 and frames.report.sets == len(sets)
    assert not frames.report.skipped, frames.report.skipped
    stamps = [s.stamp for s in sets]
    assert stamps == sorted(stamps)
    first = sets[0]
    assert first.images["front"].shape == (48, 48, 3)
    np.testing.assert_allclose(first.intrinsics["left"], sim.camera_intrinsics("left"))
    np.testing.assert_allclose(first.extrinsics["right"], sim.camera_extrinsics("right"), atol=1e-9)
    # The last set: the sim stands where the recording ended.
    position, _ = sim.ee_pose()
    np.testing.assert_allclose(sets[-1].ee_pose[:3, 3], position, atol=2e-3)
    assert sets[0].gripper_openness > 0.9 and min(s.gripper_openness for s in sets) < 0.8


def test_missing_topics_and_bags_are_clear_errors(recorded, tmp_path: Path) -> None:
    bag, _ = recorded
    with pytest.raises(BagError, match="no messages on \\['/top/image_raw'\\]"):
        BagFrames(bag, BagTopics(cameras={"top": "/top/image_raw"}))
    with pytest.raises(BagError, match="camera topics must carry images"):
        BagFrames(bag, BagTopics(cameras={"front": "/joint_states"}))
    with pytest.raises(BagError, match="does not exist"):
        BagFrames(tmp_path / "nothing", TOPICS)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 8}\n")
    with pytest.raises(BagError, match="cannot read bag"):
        BagFrames(broken, TOPICS)


def test_missing_transforms_are_skipped_with_a_reason(recorded) -> None:
    bag, _ = recorded
    frames = BagFrames(bag, BagTopics(cameras=TOPICS.cameras, ee_frame="panda_wrist"))
    assert list(frames) == []
    (reason, count), *_ = frames.report.skipped.items()
    assert "unknown frame 'panda_wrist'" in reason and count >= 20


def test_end_effector_from_joint_states_matches_tf(recorded) -> None:
    bag, _ = recorded
    from_tf = list(BagFrames(bag, TOPICS))
    by_fk = list(BagFrames(bag, BagTopics(cameras=TOPICS.cameras, ee_source="joint_states")))
    assert len(by_fk) == len(from_tf)
    for a, b in zip(from_tf, by_fk, strict=True):
        # TF is interpolated between 20 Hz samples; FK uses the nearest joint state.
        np.testing.assert_allclose(a.ee_pose[:3, 3], b.ee_pose[:3, 3], atol=0.02)
    with pytest.raises(BagError, match="ee_source must be"):
        BagFrames(bag, BagTopics(cameras=TOPICS.cameras, ee_source="mocap"))


def test_gripper_from_its_command_topic_leads_the_measured_opening(recorded) -> None:
    bag, _ = recorded
    command = "/gripper_controller/commands"
    measured = list(BagFrames(bag, TOPICS))
    commanded = list(BagFrames(bag, BagTopics(cameras=TOPICS.cameras, gripper_command=command)))
    assert [s.stamp for s in commanded] == [s.stamp for s in measured]
    openness = np.array([s.gripper_openness for s in commanded])
    assert set(np.unique(openness)) <= {0.0, 1.0}, "the expert commands open or closed"
    assert openness[0] == 1.0 and openness.min() == 0.0
    closed_command = int(np.argmax(openness < 0.5))
    closed_measured = int(np.argmax(np.array([s.gripper_openness for s in measured]) < 0.5))
    assert closed_command < closed_measured, "the fingers close after they are told to"
    with pytest.raises(BagError, match="no messages on the gripper command topic /grip"):
        BagFrames(bag, BagTopics(cameras=TOPICS.cameras, gripper_command="/grip"))
