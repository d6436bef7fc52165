"""The packaged default model (`checkpoints/sim_panda_small`) looking at the simulated scenes.

Its closed-loop success through ROS 2 is measured by `action-images evaluate` (see the
README); here, on evaluation seeds, its first chunk must head where the expert would go, and it
must reach the target in a closed loop in the sim without ROS.
"""

from __future__ import annotations

import numpy as np
import pytest

from action_images_ros.model.config import DEFAULT_CHECKPOINT
from action_images_ros.model.policy import VideoActionPolicy
from action_images_ros.sim.experts import Waypoint, execute_waypoints, start_episode
from action_images_ros.sim.panda_sim import PandaSim, render_available
from action_images_ros.sim.scene import SceneConfig, default_cameras
from action_images_ros.sim.tasks import make_task

CAN_RENDER, WHY_NOT = render_available()
pytestmark = [
    pytest.mark.skipif(not CAN_RENDER, reason=WHY_NOT or "cannot render"),
    pytest.mark.skipif(not DEFAULT_CHECKPOINT.exists(), reason="no packaged default model"),
]
SEEDS = (1000, 1001, 1002, 1003)  # evaluation seeds: no training demonstration used them


@pytest.fixture(scope="module")
def sim() -> PandaSim:
    s = PandaSim(SceneConfig(cameras=default_cameras(64, 64)))
    yield s
    s.close()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("task_name", ["reach", "pick"])
def test_the_first_chunk_heads_for_the_goal(sim: PandaSim, task_name: str) -> None:
    """reach: towards the target ball; pick: over the cube (horizontally), gripper open."""
    policy = VideoActionPolicy.from_pretrained(DEFAULT_CHECKPOINT, num_inference_steps=5)
    policy.set_task(task_name)
    task = make_task(task_name)
    for seed in SEEDS:
        task.reset(sim, seed)
        observation = sim.observation()
        chunk = policy.predict(observation)
        assert chunk.valid.all(), seed
        move = chunk.positions[-1] - observation.ee_position
        if task_name == "reach":
            goal = sim.marker_position("target") - observation.ee_position
        else:
            goal = sim.object_pose("cube")[0] - observation.ee_position
            move, goal = move[:2], goal[:2]
            assert chunk.gripper_openness[-1] > 0.5, seed
            if np.linalg.norm(goal) < 0.05:  # the cube is about below: no direction to judge
                continue
        assert cosine(move, goal) > 0.8, (seed, move, goal)
        assert np.linalg.norm(move) > 0.02, seed


def solve(sim: PandaSim, policy: VideoActionPolicy, task_name: str, seed: int) -> bool:
    """Closed loop without ROS: observe, predict, go to the chunk's first step, until solved
    or the task's time is up (the ROS 2 closed loop is measured by `action-images evaluate`)."""
    task = make_task(task_name)
    start_episode(sim, task, seed)
    policy.reset(0)
    deadline = sim.time + task.max_duration
    while sim.time < deadline:
        chunk = policy.predict(sim.observation())
        gripper = float(chunk.gripper_openness[0] > 0.5)
        step = Waypoint(chunk.positions[0], chunk.quaternions[0], gripper, chunk.times[0])
        execute_waypoints(sim, [step])
        if task.success(sim):
            return True
    return False


def test_reaches_the_target_in_closed_loop(sim: PandaSim) -> None:
    policy = VideoActionPolicy.from_pretrained(DEFAULT_CHECKPOINT, num_inference_steps=5)
    policy.set_task("reach")
    solved = [solve(sim, policy, "reach", seed) for seed in range(1000, 1005)]
    assert sum(solved) >= 4, solved
