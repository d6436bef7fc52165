"""A Meta-World task presented as the project presents a robot (needs the `metaworld` package).

Meta-World (50 Sawyer tasks on MuJoCo, each with a scripted expert) is driven through its
end-effector interface: an action is a hand position delta (times `action_scale`, 1 cm per unit,
applied to a mocap body the hand is welded to) plus a gripper effort in [-1, 1] (the fingers'
position targets: -1 open, +1 closed); the hand's orientation never changes. This adapter
gives it what the policy expects of any robot:

- three (or any) of the scene's fixed cameras, rendered offscreen, with their camera models:
  K from the vertical field of view (fx = fy = (H / 2) / tan(fovy / 2), principal point at the
  image centre) and T_base_camera in the OpenCV convention (z forward, x right, y down: MuJoCo's
  camera frame, which looks along -z with y up, turned by diag(1, -1, -1));
- the end-effector pose: the commanded hand position (the mocap target the hand is pulled to:
  what the expert commands and what a policy's 7-DoF targets mean here) and the measured one,
  the fixed hand orientation, the commanded gripper openness and the measured finger opening;
- the command path: a 7-DoF target (position, orientation ignored, openness) becomes the
  position delta that moves the mocap target there (clipped to the action range, so at most
  1 cm per environment step) and the gripper effort 1 - 2 * openness.

Positions are in the robot base frame: the Sawyer's `right_arm_base_link`, which Meta-World puts
at the world origin unrotated (its pose is still read from the scene, not assumed). Seeds are
the adapter's own: `reset(seed)` draws the task's object and goal placement from `seed` alone,
so the demonstrations and the evaluation can use disjoint seeds.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from action_images_ros.core.cameras import CameraError
from action_images_ros.core.policy import Observation
from action_images_ros.core.rotations import matrix_to_quat, quat_to_matrix

os.environ.setdefault("MUJOCO_GL", "egl")

# The multi-task suite of ten tasks Meta-World's papers report (MT10).
MT10 = (
    "reach",
    "push",
    "pick-place",
    "door-open",
    "drawer-open",
    "drawer-close",
    "button-press-topdown",
    "peg-insert-side",
    "window-open",
    "window-close",
)
# Fixed cameras that see the whole workspace (the others ride on the hand).
DEFAULT_CAMERAS = ("corner", "corner2", "topview")
BASE_BODY = "right_arm_base_link"
# The hand's fixed orientation: Meta-World sets the mocap quaternion to (w, x, y, z) =
# (1, 0, 1, 0) / sqrt(2) every step, a quarter turn about y (the fingers point down).
HAND_QUATERNION_XYZW = np.array([0.0, 1.0, 0.0, 1.0]) / np.sqrt(2.0)
VERSION_SUFFIX = "-v3"


class MetaWorldError(ValueError):
    """A task, camera or setting the Meta-World adapter cannot use; the message says why."""


def require_metaworld() -> None:
    """Raise a clear error where the `metaworld` package is missing."""
    if importlib.util.find_spec("metaworld") is None:
        raise MetaWorldError(
            "the Meta-World benchmark needs the `metaworld` package (it pins mujoco 3.3.0): make "
            "its environment with scripts/metaworld_env/setup_env.sh and run there "
            "(docs/metaworld.md)"
        )


def known_tasks() -> list[str]:
    """Every Meta-World task name, without the version suffix (e.g. 'pick-place')."""
    require_metaworld()
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return sorted(name.removesuffix(VERSION_SUFFIX) for name in ALL_V3_ENVIRONMENTS)


def task_name(name: str) -> str:
    """A task name as the adapter keeps it ('pick-place'); 'pick-place-v3' is accepted too.
    Raises MetaWorldError listing the known tasks for any other name."""
    short = re.sub(rf"{re.escape(VERSION_SUFFIX)}$", "", name.strip())
    known = known_tasks()
    if short not in known:
        raise MetaWorldError(f"unknown Meta-World task {name!r}; known tasks: {', '.join(known)}")
    return short


def intrinsics_from_fovy(fovy_degrees: float, width: int, height: int) -> np.ndarray:
    """The pinhole K of a MuJoCo camera with vertical field of view `fovy_degrees` rendering
    `width` x `height` pixels (square pixels, principal point at the image centre)."""
    focal = (height / 2) / np.tan(np.radians(fovy_degrees) / 2)
    return np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1.0]])


def opencv_pose(camera_position: np.ndarray, camera_xmat: np.ndarray) -> np.ndarray:
    """T_world_camera (4, 4) of a MuJoCo camera in the OpenCV convention, from its world
    position and frame (`data.cam_xpos`, `data.cam_xmat`)."""
    pose = np.eye(4)
    pose[:3, :3] = np.asarray(camera_xmat).reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = camera_position
    return pose


@dataclass(frozen=True)
class StepResult:
    """What one environment step returned: the success flag and reward of Meta-World."""

    success: bool
    reward: float


class MetaWorldScene:
    """One Meta-World task with fixed cameras, its end-effector state and command path."""

    def __init__(
        self,
        task: str,
        cameras: Sequence[str] = DEFAULT_CAMERAS,
        width: int = 128,
        height: int = 128,
    ) -> None:
        require_metaworld()
        import mujoco
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE

        self.task = task_name(task)
        if width <= 0 or height <= 0:
            raise MetaWorldError(f"image size must be positive, got {width}x{height}")
        environment = ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[
            f"{self.task}{VERSION_SUFFIX}-goal-observable"
        ]
        self.env = environment()
        self.model, self.data = self.env.model, self.env.data
        scene_cameras = [self.model.camera(i).name for i in range(self.model.ncam)]
        fixed = [n for i, n in enumerate(scene_cameras) if self.model.cam_bodyid[i] == 0]
        missing = [c for c in cameras if c not in scene_cameras]
        if missing or not cameras:
            raise CameraError(
                f"the Meta-World scene has no camera {missing or '(none given)'}; its cameras: "
                f"{', '.join(scene_cameras)} (fixed: {', '.join(fixed)})"
            )
        moving = [c for c in cameras if c not in fixed]
        if moving:
            raise CameraError(
                f"cameras {moving} ride on the robot; a rig needs fixed cameras: {', '.join(fixed)}"
            )
        if len(set(cameras)) != len(cameras):
            raise CameraError(f"cameras must be distinct, got {list(cameras)}")
        self.cameras, self.width, self.height = list(cameras), width, height
        self._camera_ids = [scene_cameras.index(c) for c in cameras]
        self.model.vis.global_.offwidth = max(self.model.vis.global_.offwidth, width)
        self.model.vis.global_.offheight = max(self.model.vis.global_.offheight, height)
        self._mujoco = mujoco
        self._renderer = mujoco.Renderer(self.model, height, width)
        self.action_scale = float(self.env.action_scale)
        self.dt = float(self.model.opt.timestep * self.env.frame_skip)
        self.max_steps = int(self.env.max_path_length)
        self._mocap = int(self.model.body_mocapid[self.data.body("mocap").id])
        self.steps = 0
        self.gripper_command = 1.0
        self._observation = np.zeros(39)

    # -- episode -------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        """Start an episode whose object and goal placement come from `seed` alone."""
        env = self.env
        env._freeze_rand_vec = False  # draw a new placement ...
        env.seeded_rand_vec = True  # ... from the environment's own generator
        env.seed(int(seed))
        self._observation, _ = env.reset()
        env._freeze_rand_vec = True
        self.steps, self.gripper_command = 0, 1.0  # the reset leaves the fingers open

    def step(self, action: np.ndarray) -> StepResult:
        """One environment step (1 / 80 s) of a Meta-World action (4,) in [-1, 1]."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (4,) or not np.isfinite(action).all():
            raise MetaWorldError(f"a Meta-World action is 4 finite numbers, got {action}")
        self._observation, reward, _, _, info = self.env.step(np.clip(action, -1, 1))
        self.steps += 1
        self.gripper_command = float(np.clip((1 - np.clip(action[3], -1, 1)) / 2, 0, 1))
        return StepResult(bool(info["success"]), float(reward))

    @property
    def done(self) -> bool:
        """Whether the episode reached Meta-World's step limit."""
        return self.steps >= self.max_steps

    @property
    def observation_vector(self) -> np.ndarray:
        """Meta-World's own observation (39,), what its scripted experts read."""
        return self._observation.copy()

    def expert(self):  # noqa: ANN201 (a metaworld Policy)
        """The task's scripted expert (`get_action(observation_vector)` -> action)."""
        from metaworld.policies import ENV_POLICY_MAP

        return ENV_POLICY_MAP[f"{self.task}{VERSION_SUFFIX}"]()

    # -- robot state ---------------------------------------------------------------------
    def base_pose(self) -> np.ndarray:
        """T_world_base (4, 4) of the robot base."""
        pose = np.eye(4)
        body = self.data.body(BASE_BODY)
        pose[:3, :3], pose[:3, 3] = np.asarray(body.xmat).reshape(3, 3), body.xpos
        return pose

    def _to_base(self, points: np.ndarray) -> np.ndarray:
        world_base = self.base_pose()
        return (np.asarray(points) - world_base[:3, 3]) @ world_base[:3, :3]

    def commanded_position(self) -> np.ndarray:
        """The hand target (3,) in the base frame: where the mocap pulls the hand."""
        return self._to_base(self.data.mocap_pos[self._mocap].copy())

    def hand_position(self) -> np.ndarray:
        """The measured hand position (3,) in the base frame (Meta-World's observation)."""
        return self._to_base(self.data.body("hand").xpos.copy())

    def hand_quaternion(self) -> np.ndarray:
        """The fixed hand orientation (4,) x y z w in the base frame."""
        rotation = self.base_pose()[:3, :3].T @ quat_to_matrix(HAND_QUATERNION_XYZW[None])[0]
        return matrix_to_quat(rotation[None])[0]

    def finger_opening(self) -> float:
        """The measured finger distance, 0 closed .. 1 fully open (Meta-World's obs[3])."""
        return float(self._observation[3])

    def joint_positions(self) -> np.ndarray:
        """The arm's seven joint angles."""
        return np.array([self.data.joint(f"right_j{i}").qpos[0] for i in range(7)])

    # -- cameras -------------------------------------------------------------------------
    def intrinsics(self) -> np.ndarray:
        """(V, 3, 3) K per camera at the adapter's image size."""
        fovy = self.model.cam_fovy[self._camera_ids]
        return np.stack([intrinsics_from_fovy(f, self.width, self.height) for f in fovy])

    def extrinsics(self) -> np.ndarray:
        """(V, 4, 4) T_base_camera per camera (OpenCV convention)."""
        base_world = np.linalg.inv(self.base_pose())
        return np.stack(
            [
                base_world @ opencv_pose(self.data.cam_xpos[i], self.data.cam_xmat[i])
                for i in self._camera_ids
            ]
        )

    def render(self) -> np.ndarray:
        """(V, H, W, 3) uint8 RGB of every camera, as rendered (row 0 at the top)."""
        frames = []
        for camera in self._camera_ids:
            self._renderer.update_scene(self.data, camera=camera)
            # Shadows and reflections cost most of a CPU render and tell the policy nothing.
            self._renderer.scene.flags[self._mujoco.mjtRndFlag.mjRND_SHADOW] = False
            self._renderer.scene.flags[self._mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            frames.append(self._renderer.render().copy())
        return np.stack(frames)

    def observation(self, stamp: float | None = None) -> Observation:
        """The policy's observation of the current state (the commanded pose and gripper)."""
        return Observation(
            stamp=self.steps * self.dt if stamp is None else stamp,
            images=self.render(),
            intrinsics=self.intrinsics(),
            extrinsics=self.extrinsics(),
            joint_positions=self.joint_positions(),
            ee_position=self.commanded_position(),
            ee_quaternion=self.hand_quaternion(),
            gripper_openness=self.gripper_command,
        )

    # -- command path --------------------------------------------------------------------
    def action_towards(self, target: np.ndarray, openness: float) -> np.ndarray:
        """The Meta-World action (4,) that moves the hand target to `target` (base frame; at
        most `action_scale` per axis in one step) with the gripper at `openness`."""
        target = np.asarray(target, dtype=np.float64)
        if target.shape != (3,) or not np.isfinite(target).all() or not np.isfinite(openness):
            raise MetaWorldError(f"a target is a finite position (3,) and openness, got {target}")
        world_base = self.base_pose()
        delta = world_base[:3, :3] @ (target - self.commanded_position())
        action = np.empty(4)
        action[:3] = np.clip(delta / self.action_scale, -1, 1)
        action[3] = 1 - 2 * float(np.clip(openness, 0, 1))
        return action

    def close(self) -> None:
        self._renderer.close()
        self.env.close()
