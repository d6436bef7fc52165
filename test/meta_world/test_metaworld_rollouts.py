"""Expert demonstrations become the project's episodes, and executing an episode's own
actions back through the chunk path and the command path repeats the expert's success.
Runs in the Meta-World environment; skipped elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from action_images_ros.benchmarks.metaworld_bags import (
    label_demonstration,
    record_demonstration_bag,
)
from action_images_ros.benchmarks.metaworld_rollouts import (
    DRAWING,
    expert_success,
    record_demonstration,
    run_policy_episode,
)
from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.policy import Observation
from action_images_ros.data.episode import Episode, read_episode
from action_images_ros.sim.metaworld_adapter import MetaWorldScene

pytest.importorskip("metaworld", reason="needs the Meta-World environment (metaworld 3.1.1)")

STRIDE = 4


class EpisodeReplay:
    """A policy that answers with the episode's own next two recorded actions."""

    def __init__(self, episode: Episode) -> None:
        self.episode, self.interval = episode, 1.0 / episode.fps

    def predict(self, observation: Observation) -> ActionChunk:
        now = int(round(observation.stamp / self.interval))
        steps = np.minimum(np.arange(now + 1, now + 3), self.episode.steps - 1)
        return ActionChunk(
            positions=self.episode.positions[steps],
            quaternions=self.episode.quaternions[steps],
            gripper_openness=self.episode.gripper[steps],
            times=self.interval * np.arange(1, 3),
            confidence=np.ones(2),
            valid=np.ones(2, bool),
        )


def test_recorded_demonstration_replays_to_success(tmp_path: Path) -> None:
    task = "pick-place"  # with a grasp, so the gripper path counts (reach: the benchmark test)
    scene = MetaWorldScene(task, width=64, height=64)
    try:
        success, steps = record_demonstration(scene, 0, tmp_path / "demo", STRIDE)
        assert success
        episode = read_episode(tmp_path / "demo")
        assert episode.cameras == ["corner", "corner2", "topview"]
        assert episode.meta["task"] == task and episode.meta["success"]
        assert episode.steps == steps // STRIDE + 1 + (steps % STRIDE > 0)
        assert episode.rgb.shape[1:] == (3, 64, 64, 3)
        assert episode.fps == pytest.approx(20.0)
        assert episode.action_image_config == DRAWING
        np.testing.assert_allclose(
            episode.quaternions, episode.quaternions[:1].repeat(episode.steps, 0)
        )
        assert episode.gripper[0] == 1.0  # the fingers start open
        assert episode.gripper.min() < 0.5  # and close on the puck
        replay = run_policy_episode(scene, EpisodeReplay(episode), 0, STRIDE, record_video=True)
        assert replay.success
        assert replay.frames and replay.frames[0].shape == (64, 3 * 64, 3)
        assert expert_success(scene, [0, 1]) == 1.0
    finally:
        scene.close()


class IdleExpert:
    def get_action(self, observation: np.ndarray) -> np.ndarray:
        return np.zeros(4)


def test_a_demonstration_through_rosbag_and_label_bag_is_the_direct_episode(
    tmp_path: Path,
) -> None:
    scene = MetaWorldScene("pick-place", width=32, height=32)
    try:
        record_demonstration(scene, 0, tmp_path / "direct", STRIDE)
        assert record_demonstration_bag(scene, 0, tmp_path / "bag", STRIDE)[0]
        steps = label_demonstration(tmp_path / "bag", tmp_path / "labeled", scene, STRIDE, 0)
        scene.expert = lambda: IdleExpert()  # never solves the task
        assert not record_demonstration_bag(scene, 0, tmp_path / "failed", 50)[0]
    finally:
        scene.close()
    assert not list(tmp_path.glob("*failed*")), "a failed demonstration leaves no bag"
    direct, labeled = read_episode(tmp_path / "direct"), read_episode(tmp_path / "labeled")
    assert labeled.steps == direct.steps == steps
    assert labeled.meta["task"] == "pick-place" and labeled.meta["success"]
    assert labeled.action_image_config == DRAWING
    np.testing.assert_array_equal(labeled.rgb, direct.rgb)
    np.testing.assert_allclose(labeled.timestamps, direct.timestamps, atol=1e-9)
    np.testing.assert_allclose(labeled.positions, direct.positions, atol=1e-9)
    np.testing.assert_allclose(np.abs(labeled.quaternions), np.abs(direct.quaternions), atol=1e-7)
    np.testing.assert_array_equal(labeled.gripper, direct.gripper)
    assert labeled.gripper.min() < 0.5, "the command to close is in the bag"
    np.testing.assert_allclose(labeled.intrinsics, direct.intrinsics)
    np.testing.assert_allclose(labeled.extrinsics, direct.extrinsics, atol=1e-7)
    np.testing.assert_allclose(labeled.joint_positions, direct.joint_positions)


def test_a_policy_that_holds_still_fails_and_is_timed() -> None:
    scene = MetaWorldScene("reach", width=32, height=32)

    class Still:
        def predict(self, observation: Observation) -> ActionChunk:
            here = np.repeat(observation.ee_position[None], 2, 0)
            return ActionChunk(
                positions=here,
                quaternions=np.repeat(observation.ee_quaternion[None], 2, 0),
                gripper_openness=np.ones(2),
                times=np.array([0.05, 0.1]),
                confidence=np.ones(2),
                valid=np.ones(2, bool),
            )

    try:
        episode = run_policy_episode(scene, Still(), 3, STRIDE, max_steps=40)
    finally:
        scene.close()
    assert not episode.success and episode.steps == 40
    assert len(episode.inference_s) == 5  # 8 environment steps per chunk of two 0.05 s steps


def test_a_policy_with_history_sees_the_frame_before_each_chunk_request() -> None:
    scene = MetaWorldScene("reach", width=32, height=32)

    class StillWithHistory:
        history_frames = 1

        def __init__(self) -> None:
            self.asked, self.observed = [], []

        def observe(self, observation: Observation) -> None:
            self.observed.append(observation.stamp)

        def predict(self, observation: Observation) -> ActionChunk:
            self.asked.append(observation.stamp)
            return ActionChunk(
                positions=np.repeat(observation.ee_position[None], 2, 0),
                quaternions=np.repeat(observation.ee_quaternion[None], 2, 0),
                gripper_openness=np.ones(2),
                times=np.array([0.05, 0.1]),
                confidence=np.ones(2),
                valid=np.ones(2, bool),
            )

    policy = StillWithHistory()
    try:
        run_policy_episode(scene, policy, 3, STRIDE, max_steps=40)
        interval = STRIDE * scene.dt
    finally:
        scene.close()
    # Chunks are asked for at environment steps 0, 8, ..., 32; each one after the first is
    # preceded by the observation one frame (4 steps) earlier.
    np.testing.assert_allclose(policy.asked, scene.dt * np.arange(0, 40, 8))
    np.testing.assert_allclose(policy.observed, scene.dt * np.arange(4, 40, 8))
    np.testing.assert_allclose(np.array(policy.asked[1:]) - policy.observed[:-1], interval)
