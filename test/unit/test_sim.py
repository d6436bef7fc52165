"""The MuJoCo Panda simulator: physics, controller tracking, cameras, calibration, experts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from action_images_ros.core.kinematics import quat_to_matrix, rotation_error
from action_images_ros.core.safety import SafetyLimits, limit_joint_trajectory
from action_images_ros.sim.experts import (
    START_REGION,
    random_start,
    run_episode,
    start_episode,
)
from action_images_ros.sim.panda_sim import (
    PandaSim,
    render_available,
    write_calibration,
)
from action_images_ros.sim.scene import CUBE_HALF, CameraConfig, SceneConfig
from action_images_ros.sim.tasks import TASKS, make_task
from action_images_ros.sim.trajectory_controller import (
    Status,
    TrajectoryGoal,
    TrajectoryPoint,
)

CAN_RENDER, WHY_NOT = render_available()
needs_render = pytest.mark.skipif(not CAN_RENDER, reason=WHY_NOT or "cannot render")

CAMERAS = [
    CameraConfig("front", (1.4, 0.0, 0.85), (0.45, 0.0, 0.12), 45.0, 96, 96),
    CameraConfig("wide", (0.6, -0.9, 0.7), (0.45, 0.05, 0.1), 60.0, 160, 120),
    CameraConfig("top", (0.45, 0.0, 1.2), (0.45, 0.0, 0.0), 50.0, 64, 80),
]


@pytest.fixture(scope="module")
def sim() -> PandaSim:
    s = PandaSim(SceneConfig(cameras=CAMERAS))
    yield s
    s.close()


def test_reset_is_deterministic_and_ee_pose_matches_fk(sim: PandaSim) -> None:
    sim.reset(seed=7)
    q1 = sim.joint_positions()
    sim.reset(seed=7)
    np.testing.assert_array_equal(sim.joint_positions(), q1)
    sim.reset(seed=8)
    assert not np.allclose(sim.joint_positions(), q1)
    assert sim.time == 0.0
    pos, quat = sim.ee_pose()
    fk_pos, fk_quat = sim.chain.forward_kinematics(sim.joint_positions())
    np.testing.assert_allclose(pos, fk_pos, atol=1e-9)
    assert np.linalg.norm(rotation_error(quat_to_matrix(quat), quat_to_matrix(fk_quat))) < 1e-6
    names, positions, velocities = sim.joint_state()
    assert len(names) == len(positions) == len(velocities) == 9


def test_controller_tracks_trajectory_in_sim(sim: PandaSim) -> None:
    sim.reset()
    q0 = sim.joint_positions()
    q1 = q0 + np.array([0.4, 0.3, -0.3, 0.4, 0.4, -0.3, 0.5])
    times = 0.15 * np.arange(1, 11)
    ramp = q0 + (q1 - q0) * np.arange(1, 11)[:, None] / 10
    order = [6, 0, 3, 1, 5, 2, 4]  # jumbled joint order
    names = [sim.joint_names[i] for i in order]
    # Positions only: the steps of velocity at the knots are what a Panda aborts on.
    linear = TrajectoryGoal(
        names, [TrajectoryPoint(q[order], t) for q, t in zip(ramp, times, strict=True)]
    )
    result = sim.send_trajectory(linear)
    assert not result.accepted and "acceleration" in result.reason
    # Through the safety layer: positions, velocities and accelerations (quintic).
    limits = SafetyLimits(sim.chain.lower, sim.chain.upper, sim.chain.velocity_limits)
    safe = limit_joint_trajectory(q0, ramp, times, limits)
    points = [
        TrajectoryPoint(q[order], t, v[order], a[order])
        for q, t, v, a in zip(
            safe.positions, safe.times, safe.velocities, safe.accelerations, strict=True
        )
    ]
    assert sim.send_trajectory(TrajectoryGoal(names, points)).accepted
    worst = 0.0
    while sim.time < safe.times[-1]:
        sim.step(0.02)
        worst = max(worst, np.abs(sim.joint_positions() - sim.controller.sample(sim.time)[0]).max())
    sim.step(0.5)
    assert worst < 5e-3  # rad, while moving
    np.testing.assert_allclose(sim.joint_positions(), q1, atol=1e-3)
    assert sim.controller.status is Status.SUCCEEDED


def test_rejected_trajectory_robot_holds_still(sim: PandaSim) -> None:
    sim.reset()
    q0 = sim.joint_positions()
    bad = TrajectoryGoal(sim.joint_names, [TrajectoryPoint(q0 + [0, 0, 0, 5, 0, 0, 0], 1.0)])
    result = sim.send_trajectory(bad)
    assert not result.accepted and "panda_joint4" in result.reason
    sim.step(1.0)
    np.testing.assert_allclose(sim.joint_positions(), q0, atol=1e-4)
    assert np.abs(sim.joint_velocities()).max() < 1e-3


def test_gripper_opens_and_closes(sim: PandaSim) -> None:
    sim.reset()
    assert sim.gripper_openness() == pytest.approx(1.0)
    sim.set_gripper(0.0)
    sim.step(1.0)
    assert sim.gripper_openness() < 0.05
    sim.set_gripper(0.5)
    sim.step(1.0)
    assert sim.gripper_openness() == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="finite"):
        sim.set_gripper(float("nan"))


def test_extrinsics_are_optical_frames_looking_at_targets(sim: PandaSim) -> None:
    for cam in CAMERAS:
        t = sim.camera_extrinsics(cam.name)
        np.testing.assert_allclose(t[:3, 3], cam.position, atol=1e-9)
        np.testing.assert_allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3), atol=1e-9)
        assert np.linalg.det(t[:3, :3]) == pytest.approx(1.0)
        forward = np.subtract(cam.target, cam.position)
        np.testing.assert_allclose(t[:3, 2], forward / np.linalg.norm(forward), atol=1e-6)
        assert t[2, 1] <= 1e-9  # image y (down) never points up for these cameras
        k = sim.camera_intrinsics(cam.name)
        assert k[0, 2] == (cam.width - 1) / 2 and k[1, 2] == (cam.height - 1) / 2


@needs_render
def test_render_shapes_and_projection_matches_pixels(sim: PandaSim) -> None:
    sim.reset(q=[-1.6, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785])  # arm swung aside: nothing occludes
    sim.set_object_pose(np.array([0.5, 0.3, 0.02]))  # keep the cube out of the way
    marker = np.array([0.42, 0.06, 0.16])
    sim.set_marker("target", marker)
    images = sim.render()
    assert set(images) == {c.name for c in CAMERAS}
    for cam in CAMERAS:
        img = images[cam.name]
        assert img.shape == (cam.height, cam.width, 3) and img.dtype == np.uint8
        assert img.std() > 5  # not a blank frame
        t_cam_base = np.linalg.inv(sim.camera_extrinsics(cam.name))
        x = t_cam_base[:3, :3] @ marker + t_cam_base[:3, 3]
        uv = (sim.camera_intrinsics(cam.name) @ x)[:2] / x[2]
        rgb = img.astype(int)
        green = (rgb[..., 1] > rgb[..., 0] + 60) & (rgb[..., 1] > rgb[..., 2] + 60)
        assert green.sum() > 3, cam.name
        rows, cols = np.nonzero(green)
        print(cam.name, green.sum(), [cols.mean(), rows.mean()], uv)
        np.testing.assert_allclose([cols.mean(), rows.mean()], uv, atol=1.0, err_msg=cam.name)
    sim.set_marker("target", None)
    hidden = sim.render(["front"])["front"].astype(int)
    assert not np.any(
        (hidden[..., 1] > hidden[..., 0] + 60) & (hidden[..., 1] > hidden[..., 2] + 60)
    )


def test_write_calibration_json_and_yaml(sim: PandaSim, tmp_path) -> None:
    doc = json.loads(write_calibration(tmp_path / "calib.json", sim).read_text())
    assert doc["base_frame"] == "panda_link0"
    wide = doc["cameras"]["wide"]
    assert (wide["width"], wide["height"]) == (160, 120)
    np.testing.assert_allclose(wide["K"], sim.camera_intrinsics("wide"))
    np.testing.assert_allclose(wide["T_base_camera"], sim.camera_extrinsics("wide"))
    text = sim.write_calibration(tmp_path / "calib.yaml").read_text()
    assert text.startswith("base_frame: panda_link0\ncameras:\n  front:\n")
    k_line = next(line for line in text.splitlines() if line.strip().startswith("K:"))
    np.testing.assert_allclose(json.loads(k_line.split(":", 1)[1]), sim.camera_intrinsics("front"))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_experts_solve_tasks_and_tasks_start_unsolved(sim: PandaSim, name: str) -> None:
    task = make_task(name)
    for seed in (0, 1):
        task.reset(sim, seed)
        assert not task.success(sim)
        before = task.measure(sim)
        result = run_episode(sim, task, seed)
        assert result.success, (name, seed)
        assert result.ik_failures == 0
        assert result.sim_time < task.max_duration
        after = task.measure(sim)  # how close to success, before and after the expert
        if name == "pick":
            assert before == {"lift_m": pytest.approx(0, abs=2e-3), "held": 0.0}
            assert after["lift_m"] > task.lift and after["held"] == 1.0
        else:
            assert before["distance_m"] > after["distance_m"]
            assert after["distance_m"] < task.tolerance


@pytest.mark.parametrize("name", sorted(TASKS))
def test_experts_solve_tasks_from_random_starts(sim: PandaSim, name: str) -> None:
    """Demonstrations from random arm poses (a turn of up to 0.5 rad plus the cube's yaw
    included) stay within the joint velocity limits and succeed."""
    task = make_task(name)
    for seed in (5, 6):
        result = run_episode(sim, task, seed, random_start_pose=True)
        assert result.success, (name, seed)
        assert result.ik_failures == 0


@pytest.mark.parametrize("name", ["pick", "place"])
def test_experts_recover_from_a_missed_grasp(sim: PandaSim, name: str) -> None:
    task = make_task(name)
    for seed in range(7, 13):
        task.reset(sim, seed)
        cube = sim.object_pose("cube")[0]
        start_episode(sim, task, seed, miss_first_grasp=True)
        assert sim.gripper_openness() < 0.1, "closed on nothing"
        tcp = sim.ee_pose()[0]
        assert 0.035 < np.linalg.norm(tcp[:2] - cube[:2]) < 0.07 and tcp[2] < CUBE_HALF + 0.01
        assert np.linalg.norm(sim.object_pose("cube")[0] - cube) < 0.003, "the cube is not touched"
        result = run_episode(sim, task, seed, miss_first_grasp=True)
        assert result.success and result.ik_failures == 0, (name, seed)


def test_random_start_places_the_arm_in_the_start_region(sim: PandaSim) -> None:
    task = make_task("pick")
    starts = []
    for seed in range(4):
        task.reset(sim, seed)
        cube = sim.object_pose("cube")[0]
        random_start(sim, np.random.default_rng(seed))
        position, quat = sim.ee_pose()
        assert np.all(position >= START_REGION[0] - 2e-3)
        assert np.all(position <= START_REGION[1] + 2e-3)
        assert quat_to_matrix(quat)[2, 2] < -0.99  # top-down
        np.testing.assert_array_equal(sim.object_pose("cube")[0], cube)  # the scene is kept
        np.testing.assert_allclose(sim.joint_velocities(), 0.0)
        starts.append(position)
    assert np.ptp(np.array(starts), axis=0).min() > 0.01  # they differ


def test_task_reset_randomises_from_seed(sim: PandaSim) -> None:
    task = make_task("place")
    task.reset(sim, 3)
    cube_a, goal_a = sim.object_pose("cube")[0], sim.marker_position("goal")
    task.reset(sim, 3)
    np.testing.assert_array_equal(sim.object_pose("cube")[0], cube_a)
    task.reset(sim, 4)
    assert not np.allclose(sim.object_pose("cube")[0], cube_a)
    assert np.linalg.norm(goal_a[:2] - cube_a[:2]) > 0.12
    with pytest.raises(KeyError, match="unknown task"):
        make_task("juggle")
