"""Scene configuration and the MJCF of the Panda scene, generated from the packaged URDF.

World frame = robot base frame = ``panda_link0``; the table top is the plane z = 0. The arm's
bodies, joints and inertias come from ``assets/panda/panda.urdf`` (so MuJoCo and
:class:`~action_images_ros.core.kinematics.SerialChain` share one kinematic description), the
collision STL meshes are drawn as the robot's visuals.

End-effector site ``tcp``: the URDF ``panda_hand_tcp`` frame, 0.1034 m beyond the hand flange,
between the fingertip pads. Its z axis points out of the gripper (the approach direction), its y
axis along the finger travel (the fingers open along +-y), x = y cross z. A top-down grasp has
z = (0, 0, -1) in the base frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from action_images_ros.core.kinematics import urdf_origin
from action_images_ros.core.robot_assets import (
    ARM_JOINTS,
    PANDA_MAX_ACCELERATION,
    PANDA_MAX_JERK,
    PANDA_URDF,
    TOOL_FRAME,
)
from action_images_ros.core.rotations import matrix_to_quat

ASSETS = PANDA_URDF.parent
URDF_PATH = PANDA_URDF
FINGER_MAX = 0.04  # metres of travel per finger (openness 1)
HOME_Q = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785398])
CUBE_HALF = 0.02
# The reach target is only drawn (no collisions): a ball big enough to cover a few pixels in
# the small model's 32 x 32 px views (a 4 cm one blurred into about one faint pixel).
TARGET_RADIUS = 0.035
TCP_LINK = TOOL_FRAME


@dataclass
class CameraConfig:
    """A camera placed by position and look-at target (base frame, metres); fovy in degrees."""

    name: str
    position: tuple[float, float, float]
    target: tuple[float, float, float]
    fovy: float = 45.0
    width: int = 256
    height: int = 256

    def rotation(self) -> np.ndarray:
        """Rotation (3, 3) of the MuJoCo camera frame (x right, y up, looking along -z)."""
        fwd = np.subtract(self.target, self.position).astype(float)
        fwd /= np.linalg.norm(fwd)
        up = np.array([0.0, 0.0, 1.0]) if abs(fwd[2]) < 0.99 else np.array([1.0, 0.0, 0.0])
        right = np.cross(fwd, up)
        right /= np.linalg.norm(right)
        return np.stack([right, np.cross(right, fwd), -fwd], axis=1)


def default_cameras(width: int = 256, height: int = 256) -> list[CameraConfig]:
    """Three views of the workspace: front, left and right."""
    target = (0.45, 0.0, 0.12)
    return [
        CameraConfig("front", (1.4, 0.0, 0.85), target, 45.0, width, height),
        CameraConfig("left", (0.65, 0.95, 0.8), target, 50.0, width, height),
        CameraConfig("right", (0.65, -0.95, 0.8), target, 50.0, width, height),
    ]


@dataclass
class SceneConfig:
    """Everything the scene and the simulator are built from; :meth:`from_dict` reads YAML."""

    cameras: list[CameraConfig] = field(default_factory=default_cameras)
    timestep: float = 0.002
    arm_kp: tuple[float, ...] = (4500, 4500, 3500, 3500, 2000, 2000, 2000)
    arm_kd: tuple[float, ...] = (300, 300, 250, 250, 120, 120, 120)
    gripper_kp: float = 800.0
    gripper_force: float = 40.0
    home_q: tuple[float, ...] = tuple(HOME_Q)
    shadows: bool = False
    # The arm controller rejects trajectories whose executed spline exceeds these (the Franka
    # Panda's, rad/s^2 and rad/s^3; velocity limits come from the URDF), within a relative
    # tolerance, judged at 1 kHz as the real robot does.
    arm_max_acceleration: tuple[float, ...] = PANDA_MAX_ACCELERATION
    arm_max_jerk: tuple[float, ...] = PANDA_MAX_JERK
    arm_limit_tolerance: float = 0.01

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneConfig:
        """Build from a plain dict (e.g. loaded YAML); ``cameras`` is a list of dicts."""
        data = dict(data)
        cams = [
            c if isinstance(c, CameraConfig) else CameraConfig(**c) for c in data.pop("cameras", [])
        ] or default_cameras()
        for key in ("arm_kp", "arm_kd", "home_q", "arm_max_acceleration", "arm_max_jerk"):
            if key in data:
                data[key] = tuple(float(v) for v in data[key])
        return cls(cameras=cams, **data)


def _fmt(values: Any) -> str:
    return " ".join(f"{float(v):.9g}" for v in np.ravel(values))


def _pose_attrs(t: np.ndarray) -> str:
    return f'pos="{_fmt(t[:3, 3])}" quat="{_fmt(np.roll(matrix_to_quat(t[:3, :3]), 1))}"'


def _link_xml(link: Any, indent: str) -> list[str]:
    """Inertial, visual and collision geoms of one URDF link."""
    out = []
    inertial = link.find("inertial")
    if inertial is not None and float(inertial.find("mass").get("value")) > 0:
        i = {k: float(v) for k, v in inertial.find("inertia").attrib.items()}
        tensor = np.array(
            [
                [i["ixx"], i["ixy"], i["ixz"]],
                [i["ixy"], i["iyy"], i["iyz"]],
                [i["ixz"], i["iyz"], i["izz"]],
            ]
        )
        frame = urdf_origin(inertial.find("origin"))
        tensor = frame[:3, :3] @ tensor @ frame[:3, :3].T  # express in the body frame
        full = _fmt(tensor[[0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]])
        out.append(
            f'{indent}<inertial pos="{_fmt(frame[:3, 3])}" '
            f'mass="{inertial.find("mass").get("value")}" fullinertia="{full}"/>'
        )
    collisions = link.findall("collision")
    mesh_collision = any(c.find("geometry/mesh") is not None for c in collisions)
    for vis in link.findall("visual"):
        mesh = vis.find("geometry/mesh")
        stem = Path(mesh.get("filename")).stem if mesh is not None else None
        if stem and not mesh_collision and (ASSETS / "meshes/collision" / f"{stem}.stl").exists():
            out.append(
                f'{indent}<geom class="visual" mesh="{stem}" '
                f"{_pose_attrs(urdf_origin(vis.find('origin')))}/>"
            )
    for col in collisions:
        pose = _pose_attrs(urdf_origin(col.find("origin")))
        geo = col.find("geometry")[0]
        if geo.tag == "mesh":
            out.append(
                f'{indent}<geom class="robot" mesh="{Path(geo.get("filename")).stem}" {pose}/>'
            )
        elif geo.tag == "box":
            size = np.array(geo.get("size").split(), float) / 2
            out.append(f'{indent}<geom class="pad" type="box" size="{_fmt(size)}" {pose}/>')
    return out


def _robot_xml(cfg: SceneConfig) -> list[str]:
    import xml.etree.ElementTree as ET

    root = ET.parse(URDF_PATH).getroot()
    links = {link.get("name"): link for link in root.findall("link")}
    children: dict[str, list[Any]] = {}
    for j in root.findall("joint"):
        children.setdefault(j.find("parent").get("link"), []).append(j)

    def body(name: str, indent: str, pose: str, joint: Any | None) -> list[str]:
        out = [f'{indent}<body name="{name}" {pose} gravcomp="1">']
        inner = indent + "  "
        if joint is not None and joint.get("type") in ("revolute", "prismatic"):
            jname, lim = joint.get("name"), joint.find("limit")
            kind = "hinge" if joint.get("type") == "revolute" else "slide"
            damping = cfg.arm_kd[ARM_JOINTS.index(jname)] if jname in ARM_JOINTS else 2.0
            out.append(
                f'{inner}<joint name="{jname}" type="{kind}" '
                f'axis="{joint.find("axis").get("xyz")}" '
                f'range="{lim.get("lower")} {lim.get("upper")}" damping="{damping}" '
                'armature="0.1"/>'
            )
        out += _link_xml(links[name], inner)
        if name == TCP_LINK:
            out.append(f'{inner}<site name="tcp" size="0.005" rgba="1 1 0 0.5" group="4"/>')
        for child in children.get(name, []):
            child_pose = _pose_attrs(urdf_origin(child.find("origin")))
            out += body(child.find("child").get("link"), inner, child_pose, child)
        out.append(f"{indent}</body>")
        return out

    return body("panda_link0", "    ", 'pos="0 0 0"', None)


def build_mjcf(cfg: SceneConfig | None = None) -> str:
    """The MJCF text of the whole scene (meshes referenced by absolute path)."""
    cfg = cfg or SceneConfig()
    meshes = "\n".join(
        f'    <mesh name="{p.stem}" file="{p.resolve()}"/>'
        for p in sorted((ASSETS / "meshes/collision").glob("*.stl"))
    )
    cams = "\n".join(
        f'    <camera name="{c.name}" pos="{_fmt(c.position)}" fovy="{c.fovy}" '
        f'xyaxes="{_fmt(c.rotation()[:, 0])} {_fmt(c.rotation()[:, 1])}"/>'
        for c in cfg.cameras
    )
    arm_act = "\n".join(
        f'    <position name="act_{j}" joint="{j}" kp="{kp}" forcerange="-{f} {f}"/>'
        for j, kp, f in zip(ARM_JOINTS, cfg.arm_kp, (87,) * 4 + (12,) * 3, strict=True)
    )
    off_w = max([c.width for c in cfg.cameras] + [64])
    off_h = max([c.height for c in cfg.cameras] + [64])
    robot = "\n".join(_robot_xml(cfg))
    half, target_radius = CUBE_HALF, TARGET_RADIUS
    return f"""<mujoco model="action_images_panda">
  <compiler angle="radian" balanceinertia="true" autolimits="true"/>
  <option timestep="{cfg.timestep}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual>
    <global offwidth="{off_w}" offheight="{off_h}"/>
    <quality shadowsize="{4096 if cfg.shadows else 0}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5"/>
  </visual>
  <default>
    <geom contype="2" conaffinity="1"/>
    <default class="robot">
      <geom type="mesh" rgba="0.92 0.92 0.95 1" group="2"/>
    </default>
    <default class="visual">
      <geom type="mesh" contype="0" conaffinity="0" rgba="0.25 0.25 0.28 1" group="2"/>
    </default>
    <default class="pad">
      <geom group="3" condim="4" friction="1.5 0.01 0.001" rgba="0.2 0.2 0.2 1"/>
    </default>
    <default class="world">
      <geom contype="1" conaffinity="3" group="1"/>
    </default>
  </default>
  <asset>
{meshes}
    <texture name="grid" type="2d" builtin="checker" rgb1="0.3 0.32 0.35" rgb2="0.22 0.24 0.26"
      width="256" height="256"/>
    <material name="floor" texture="grid" texrepeat="8 8"/>
    <material name="table" rgba="0.62 0.5 0.38 1"/>
  </asset>
  <worldbody>
    <light name="key" pos="0.6 -0.8 1.6" dir="-0.2 0.5 -1" diffuse="0.6 0.6 0.6"
      castshadow="{str(cfg.shadows).lower()}"/>
    <light name="fill" pos="0.4 0.9 1.4" dir="0 -0.5 -1" diffuse="0.3 0.3 0.3" castshadow="false"/>
    <geom name="floor" class="world" type="plane" size="3 3 0.1" pos="0 0 -0.75"
      material="floor"/>
    <geom name="table" class="world" type="box" size="0.7 0.75 0.02" pos="0.35 0 -0.02"
      material="table"/>
{robot}
    <body name="cube" pos="0.5 0 {half}">
      <freejoint name="cube_joint"/>
      <geom name="cube" class="world" type="box" size="{half} {half} {half}" mass="0.05"
        condim="4" friction="1.0 0.01 0.001" rgba="0.85 0.15 0.12 1"/>
    </body>
    <body name="target" mocap="true" pos="0.5 0.2 0.2">
      <geom name="target" type="sphere" size="{target_radius}" contype="0" conaffinity="0"
        rgba="0.1 0.85 0.2 0.6"/>
    </body>
    <body name="goal" mocap="true" pos="0.5 -0.2 0.0005">
      <geom name="goal" type="cylinder" size="0.05 0.0005" contype="0" conaffinity="0"
        rgba="0.15 0.35 0.95 0.7"/>
    </body>
{cams}
  </worldbody>
  <equality>
    <joint joint1="panda_finger_joint2" joint2="panda_finger_joint1" polycoef="0 1 0 0 0"
      solref="0.005 1"/>
  </equality>
  <actuator>
{arm_act}
    <position name="act_gripper" joint="panda_finger_joint1" kp="{cfg.gripper_kp}"
      ctrlrange="0 {FINGER_MAX}" forcerange="-{cfg.gripper_force} {cfg.gripper_force}"/>
  </actuator>
</mujoco>
"""
