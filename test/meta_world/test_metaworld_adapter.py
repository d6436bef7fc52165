"""The Meta-World adapter: camera models that put the hand where it is rendered, bad input
refused, and the command path. Runs in the Meta-World environment (see
test_in_metaworld_environment.py); skipped elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from action_images_ros.core.cameras import CameraError, CameraRig
from action_images_ros.sim.metaworld_adapter import (
    DEFAULT_CAMERAS,
    MetaWorldError,
    MetaWorldScene,
    known_tasks,
    task_name,
)

pytest.importorskip("metaworld", reason="needs the Meta-World environment (metaworld 3.1.1)")
mujoco = pytest.importorskip("mujoco")  # after the sim package has set MUJOCO_GL


@pytest.fixture(scope="module")
def scene():
    scene = MetaWorldScene("pick-place", DEFAULT_CAMERAS + ("corner3",), 128, 128)
    yield scene
    scene.close()


def hand_bodies(model: mujoco.MjModel) -> set[int]:
    """The hand and everything mounted on it (fingers, pads)."""
    hand = model.body("hand").id
    bodies = {hand}
    for body in range(model.nbody):
        parent = body
        while parent not in (0, hand):
            parent = model.body_parentid[parent]
        if parent == hand:
            bodies.add(body)
    return bodies


def test_projected_hand_lands_on_the_rendered_gripper(scene: MetaWorldScene) -> None:
    """The hand (between the fingers: within 3 px of finger pixels at 128 px) and the finger
    pads (on a gripper pixel) project where the renderer draws the gripper, in every view.
    Only the gripper is drawn (every other geom in a hidden group), so the arm hiding it from
    above does not count."""
    segmentation = mujoco.Renderer(scene.model, scene.height, scene.width)
    segmentation.enable_segmentation_rendering()
    gripper = hand_bodies(scene.model)
    only_gripper = mujoco.MjvOption()
    only_gripper.geomgroup[:] = [1, 0, 0, 0, 0, 0]
    groups = scene.model.geom_group.copy()
    scene.model.geom_group[:] = np.where(np.isin(scene.model.geom_bodyid, list(gripper)), 0, 5)
    scene.reset(5)
    rig = CameraRig.from_arrays(scene.intrinsics(), scene.extrinsics(), 128, 128)
    for move in ([0, 0, 0, -1], [0, 0, 1, -1], [-1, 1, 0, 1]):  # three hand positions
        for _ in range(8):
            scene.step(np.array(move, float))
        pads = [scene.data.body(name).xpos for name in ("leftpad", "rightpad")]
        points = torch.tensor(np.stack([scene.hand_position(), *pads]))
        pixels, depth = rig.project(points)  # (3 points, V, 2)
        for view, camera in enumerate(scene.cameras):
            segmentation.update_scene(scene.data, camera=camera, scene_option=only_gripper)
            ids = segmentation.render()  # (H, W, 2): object id, object type
            for point, reach in ((0, 3), (1, 1), (2, 1)):
                u, v = np.round(pixels[point, view].numpy()).astype(int)
                assert depth[point, view] > 0 and 0 <= u < 128 and 0 <= v < 128, camera
                window = ids[max(v - reach, 0) : v + reach + 1, max(u - reach, 0) : u + reach + 1]
                window = window.reshape(-1, 2)
                geoms = window[window[:, 1] == mujoco.mjtObj.mjOBJ_GEOM, 0]
                bodies = {int(scene.model.geom_bodyid[g]) for g in geoms}
                assert bodies & gripper, f"{camera}: point {point} at {(u, v)} is off the gripper"
    scene.model.geom_group[:] = groups
    segmentation.close()


def test_intrinsics_follow_the_field_of_view(scene: MetaWorldScene) -> None:
    k = scene.intrinsics()
    fovy = scene.model.cam_fovy[[scene.model.camera(c).id for c in scene.cameras]]
    np.testing.assert_allclose(k[:, 1, 1], 64 / np.tan(np.radians(fovy) / 2))
    np.testing.assert_allclose(k[:, :2, 2], 63.5)
    rotations = scene.extrinsics()[:, :3, :3]
    identity = np.broadcast_to(np.eye(3), rotations.shape)
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1), identity, atol=1e-9)


def test_command_path_moves_the_target_and_the_gripper(scene: MetaWorldScene) -> None:
    scene.reset(0)
    start = scene.commanded_position()
    goal = start + np.array([0.004, -0.003, 0.002])  # within one step's reach (1 cm per axis)
    action = scene.action_towards(goal, openness=0.0)
    np.testing.assert_allclose(action, [0.4, -0.3, 0.2, 1.0])
    scene.step(action)
    np.testing.assert_allclose(scene.commanded_position(), goal, atol=1e-12)
    assert scene.gripper_command == 0.0
    far = scene.action_towards(goal + np.array([0.5, 0, -0.5]), openness=1.0)
    np.testing.assert_allclose(far, [1, 0, -1, -1])  # clipped to one step, fingers open
    for _ in range(30):
        scene.step(scene.action_towards(goal, 0.0))
    assert np.linalg.norm(scene.hand_position() - goal) < 0.01  # the hand follows the target
    assert scene.finger_opening() < 0.6  # and the fingers closed
    with pytest.raises(MetaWorldError, match="finite"):
        scene.action_towards(np.array([np.nan, 0, 0]), 1.0)


def test_orientation_is_fixed_and_the_base_is_the_world(scene: MetaWorldScene) -> None:
    np.testing.assert_allclose(scene.base_pose(), np.eye(4), atol=1e-12)
    scene.reset(1)
    first = scene.hand_quaternion()
    scene.step(np.array([1.0, 1.0, 1.0, 1.0]))
    np.testing.assert_allclose(scene.hand_quaternion(), first)
    hand = scene.data.body("hand").xquat  # w x y z, measured: within a few degrees of it
    assert abs(np.dot(hand, [first[3], *first[:3]])) > 0.99


def test_unknown_task_lists_the_known_ones() -> None:
    assert "pick-place" in known_tasks() and len(known_tasks()) == 50
    assert task_name("pick-place-v3") == "pick-place"
    with pytest.raises(MetaWorldError, match="unknown Meta-World task 'pick-plac'.*pick-place"):
        task_name("pick-plac")


def test_unknown_or_moving_camera_is_refused() -> None:
    with pytest.raises(CameraError, match="no camera \\['front'\\].*corner2"):
        MetaWorldScene("reach", ("corner", "front"))
    with pytest.raises(CameraError, match="ride on the robot"):
        MetaWorldScene("reach", ("corner", "gripperPOV"))
