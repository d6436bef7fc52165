"""The MuJoCo Panda simulator: stepping, the joint trajectory controller, cameras, calibration.

Frames: the robot base frame is ``panda_link0`` (also MuJoCo's world frame here). Camera poses
are given as ``T_base_camera``, the pose of the camera's *optical* frame (ROS/OpenCV: z forward,
x right, y down) in the base frame; pixel (row i, column j) sits at (u, v) = (j, i).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

# MuJoCo reads MUJOCO_GL when imported: the sim package (imported before this module) sets it.
import mujoco
import numpy as np

from action_images_ros.core import calibration
from action_images_ros.core.policy import Observation
from action_images_ros.core.robot_assets import ARM_JOINTS, FINGER_JOINTS, base_frame, panda_chain
from action_images_ros.core.rotations import matrix_to_quat
from action_images_ros.sim.scene import FINGER_MAX, CameraConfig, SceneConfig, build_mjcf
from action_images_ros.sim.trajectory_controller import (
    Acceptance,
    JointTrajectoryController,
    TrajectoryGoal,
)

MJ_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])  # MuJoCo camera (y up, looks along -z) -> optical


def render_available(width: int = 32, height: int = 32) -> tuple[bool, str]:
    """Whether MuJoCo can render offscreen here (``MUJOCO_GL`` backend), and why not."""
    try:
        model = mujoco.MjModel.from_xml_string(
            "<mujoco><worldbody><geom size='.1'/></worldbody></mujoco>"
        )
        with mujoco.Renderer(model, height, width) as renderer:
            renderer.update_scene(mujoco.MjData(model))
            renderer.render()
        return True, ""
    except Exception as exc:  # noqa: BLE001  (any GL failure means "cannot render")
        return False, f"MuJoCo cannot render with MUJOCO_GL={os.environ.get('MUJOCO_GL')}: {exc}"


def intrinsics(fovy_deg: float, width: int, height: int) -> np.ndarray:
    """Pinhole K (3, 3) of a MuJoCo camera: square pixels, fovy vertical, centre (W-1)/2."""
    f = 0.5 * height / np.tan(np.deg2rad(fovy_deg) / 2)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


class PandaSim:
    """A Panda arm + gripper on a table with a cube, markers and configured cameras.

    The arm follows :attr:`controller` (a :class:`JointTrajectoryController`) with position
    actuators plus a velocity feed-forward; the gripper follows :meth:`set_gripper`.
    """

    def __init__(self, config: SceneConfig | None = None) -> None:
        self.config = config or SceneConfig()
        self.model = mujoco.MjModel.from_xml_string(build_mjcf(self.config))
        self.data = mujoco.MjData(self.model)
        self.chain = panda_chain()
        self.joint_names = list(ARM_JOINTS)
        self._qadr = np.array([self.model.joint(j).qposadr[0] for j in ARM_JOINTS])
        self._dadr = np.array([self.model.joint(j).dofadr[0] for j in ARM_JOINTS])
        self._fadr = np.array([self.model.joint(j).qposadr[0] for j in FINGER_JOINTS])
        self._fdadr = np.array([self.model.joint(j).dofadr[0] for j in FINGER_JOINTS])
        self._kd = self.model.dof_damping[self._dadr].copy()
        self.controller = JointTrajectoryController(
            ARM_JOINTS,
            self.chain.lower,
            self.chain.upper,
            self.chain.velocity_limits,
            acceleration_limits=self.config.arm_max_acceleration,
            jerk_limits=self.config.arm_max_jerk,
            limit_tolerance=self.config.arm_limit_tolerance,
        )
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._gripper = 1.0
        self.reset()

    # ----------------------------------------------------------------- state
    @property
    def time(self) -> float:
        """Simulation time in seconds since the last reset."""
        return float(self.data.time)

    @property
    def cameras(self) -> list[CameraConfig]:
        """The configured cameras."""
        return list(self.config.cameras)

    def reset(self, seed: int | None = None, q: Iterable[float] | None = None) -> None:
        """Reset physics to the home pose (+ up to 0.05 rad noise per joint when ``seed`` is
        given, or exactly ``q``), gripper open, cube at its default pose, markers hidden."""
        mujoco.mj_resetData(self.model, self.data)
        home = np.asarray(self.config.home_q if q is None else list(q), dtype=np.float64)
        if seed is not None and q is None:
            home = home + np.random.default_rng(seed).uniform(-0.05, 0.05, home.shape)
        home = np.clip(home, self.chain.lower + 1e-3, self.chain.upper - 1e-3)
        self.data.qpos[self._qadr] = home
        self.data.qpos[self._fadr] = FINGER_MAX
        self._gripper = 1.0
        self.controller.reset(home)
        for name in ("target", "goal"):
            self.set_marker(name, None)
        mujoco.mj_forward(self.model, self.data)

    def place_arm(self, q: Iterable[float]) -> None:
        """Put the arm at joint positions ``q`` at rest (objects and markers stay where they are),
        holding them."""
        q = np.clip(np.asarray(list(q), dtype=np.float64), self.chain.lower, self.chain.upper)
        self.data.qpos[self._qadr] = q
        self.data.qvel[self._dadr] = 0.0
        self.controller.reset(q)
        mujoco.mj_forward(self.model, self.data)

    def joint_positions(self) -> np.ndarray:
        """Arm joint positions (7,) in :attr:`joint_names` order."""
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        """Arm joint velocities (7,)."""
        return self.data.qvel[self._dadr].copy()

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Names, positions and velocities of all 9 joints (arm then the two fingers)."""
        names = self.joint_names + list(FINGER_JOINTS)
        pos = np.concatenate([self.joint_positions(), self.data.qpos[self._fadr]])
        vel = np.concatenate([self.joint_velocities(), self.data.qvel[self._fdadr]])
        return names, pos, vel

    def gripper_openness(self) -> float:
        """Measured openness: 0 closed .. 1 fully open (finger separation / max)."""
        return float(np.clip(self.data.qpos[self._fadr].mean() / FINGER_MAX, 0.0, 1.0))

    def ee_transform(self) -> np.ndarray:
        """Pose (4, 4) of the ``tcp`` site in the base frame."""
        return self.base_from_world() @ self._site_world("tcp")

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Position (3,) and quaternion (x, y, z, w) of the ``tcp`` site in the base frame."""
        t = self.ee_transform()
        return t[:3, 3], matrix_to_quat(t[:3, :3])

    def observation(self) -> Observation:
        """What a policy sees now: every camera's image with its K and T_base_camera, the
        joint positions, the tool pose and the gripper openness, stamped with the sim time."""
        names = [c.name for c in self.cameras]
        images = self.render(names)
        position, quaternion = self.ee_pose()
        return Observation(
            stamp=self.time,
            images=np.stack([images[n] for n in names]),
            intrinsics=np.stack([self.camera_intrinsics(n) for n in names]),
            extrinsics=np.stack([self.camera_extrinsics(n) for n in names]),
            joint_positions=self.joint_positions(),
            ee_position=position,
            ee_quaternion=quaternion,
            gripper_openness=self.gripper_openness(),
        )

    def object_pose(self, body: str = "cube") -> tuple[np.ndarray, np.ndarray]:
        """Position and quaternion (x, y, z, w) of a body in the base frame."""
        b = self.data.body(body)
        t = np.eye(4)
        t[:3, :3], t[:3, 3] = b.xmat.reshape(3, 3), b.xpos
        t = self.base_from_world() @ t
        return t[:3, 3], matrix_to_quat(t[:3, :3])

    def set_object_pose(self, pos: np.ndarray, quat_xyzw: np.ndarray | None = None) -> None:
        """Place the cube (free body) at ``pos`` (world = base frame), at rest."""
        jnt = self.model.joint("cube_joint")
        adr, dadr = jnt.qposadr[0], jnt.dofadr[0]
        quat = np.array([0.0, 0.0, 0.0, 1.0]) if quat_xyzw is None else np.asarray(quat_xyzw)
        self.data.qpos[adr : adr + 7] = np.concatenate([pos, np.roll(quat, 1)])
        self.data.qvel[dadr : dadr + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_marker(self, name: str, pos: np.ndarray | None) -> None:
        """Show the mocap marker ``target`` or ``goal`` at ``pos``; None hides it."""
        body = self.model.body(name)
        geom = self.model.geom(name)
        if pos is None:
            geom.rgba[3] = 0.0
            return
        geom.rgba[3] = 0.6
        self.data.mocap_pos[body.mocapid[0]] = pos
        self._sync_poses()

    def _sync_poses(self) -> None:
        """Recompute body, site and camera poses from the current qpos / mocap poses."""
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)

    def touching(self, body_a: str, body_b: str) -> bool:
        """Whether any geom of ``body_a`` is in contact with any geom of ``body_b``."""
        a, b = self.model.body(body_a).id, self.model.body(body_b).id
        n = self.data.ncon
        b1 = self.model.geom_bodyid[self.data.contact.geom1[:n]]
        b2 = self.model.geom_bodyid[self.data.contact.geom2[:n]]
        return bool(np.any(((b1 == a) & (b2 == b)) | ((b1 == b) & (b2 == a))))

    def marker_position(self, name: str) -> np.ndarray:
        """Current position of a mocap marker."""
        return self.data.mocap_pos[self.model.body(name).mocapid[0]].copy()

    # ---------------------------------------------------------------- control
    def send_trajectory(self, traj: TrajectoryGoal) -> Acceptance:
        """Give the arm controller a trajectory (it splines from its current desired state,
        and rejects what a real Panda would: see :class:`JointTrajectoryController`)."""
        return self.controller.set_trajectory(traj, self.time)

    def set_gripper(self, openness: float) -> None:
        """Command the gripper: 0 closed .. 1 fully open (clamped)."""
        if not np.isfinite(openness):
            raise ValueError(f"gripper openness must be finite, got {openness}")
        self._gripper = float(np.clip(openness, 0.0, 1.0))

    def step(self, dt: float | None = None) -> None:
        """Advance the simulation by ``dt`` seconds (default one physics step), running the
        controller at every physics step."""
        n = 1 if dt is None else max(1, int(round(dt / self.model.opt.timestep)))
        for _ in range(n):
            q_des, dq_des = self.controller.update(
                self.time, self.data.qpos[self._qadr], self.data.qvel[self._dadr]
            )
            self.data.ctrl[:7] = q_des
            self.data.qfrc_applied[self._dadr] = self._kd * dq_des  # damping feed-forward
            self.data.ctrl[7] = self._gripper * FINGER_MAX
            mujoco.mj_step(self.model, self.data)
        self._sync_poses()  # mj_step leaves poses one step behind qpos

    # ---------------------------------------------------------------- cameras
    def render(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Render cameras (default all) to HxWx3 uint8 RGB arrays, keyed by camera name."""
        cams = {c.name: c for c in self.config.cameras}
        out = {}
        for name in names or cams:
            cam = cams[name]
            key = (cam.height, cam.width)
            if key not in self._renderers:
                renderer = mujoco.Renderer(self.model, cam.height, cam.width)
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.config.shadows
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
                self._renderers[key] = renderer
            renderer = self._renderers[key]
            renderer.update_scene(self.data, camera=name)
            out[name] = renderer.render().copy()
        return out

    def camera_intrinsics(self, name: str) -> np.ndarray:
        """K (3, 3) of a camera at its configured image size."""
        cam = {c.name: c for c in self.config.cameras}[name]
        return intrinsics(self.model.camera(name).fovy[0], cam.width, cam.height)

    def camera_extrinsics(self, name: str) -> np.ndarray:
        """T_base_camera (4, 4): the optical frame's pose in the robot base frame."""
        cam = self.data.camera(name)
        t = np.eye(4)
        t[:3, :3] = cam.xmat.reshape(3, 3) @ MJ_TO_OPTICAL
        t[:3, 3] = cam.xpos
        return self.base_from_world() @ t

    def base_from_world(self) -> np.ndarray:
        """T_base_world (4, 4) (identity in the default scene)."""
        base = self.data.body("panda_link0")
        t = np.eye(4)
        t[:3, :3] = base.xmat.reshape(3, 3).T
        t[:3, 3] = -t[:3, :3] @ base.xpos
        return t

    def calibration(self) -> dict:
        """Per-camera ``{name: {width, height, fovy, K, T_base_camera}}`` as plain lists."""
        return {
            c.name: {
                "width": c.width,
                "height": c.height,
                "fovy": float(self.model.camera(c.name).fovy[0]),
                "K": self.camera_intrinsics(c.name).tolist(),
                "T_base_camera": self.camera_extrinsics(c.name).tolist(),
            }
            for c in self.config.cameras
        }

    def write_calibration(self, path: str | Path) -> Path:
        """Write :meth:`calibration` under a ``cameras`` key, plus ``base_frame``; JSON for
        ``.json`` paths, otherwise YAML (flow lists; JSON is a YAML subset, so both parse)."""
        return write_calibration(path, self)

    def close(self) -> None:
        """Free the renderers (GL contexts)."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def _site_world(self, name: str) -> np.ndarray:
        site = self.data.site(name)
        t = np.eye(4)
        t[:3, :3], t[:3, 3] = site.xmat.reshape(3, 3), site.xpos
        return t


def write_calibration(path: str | Path, sim: PandaSim | None = None) -> Path:
    """Write the calibration of ``sim`` (default: a fresh default-scene sim) to ``path``
    (the format of :mod:`action_images_ros.core.calibration`)."""
    return calibration.write_calibration(path, base_frame(), (sim or PandaSim()).calibration())


__all__ = ["PandaSim", "intrinsics", "render_available", "write_calibration"]
