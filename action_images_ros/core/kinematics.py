"""Forward kinematics, geometric Jacobian and damped-least-squares IK for a serial chain.

The chain is built from a URDF file (parsed with ``xml.etree``, no robotics dependency), so the
same code serves the simulator and a real robot. Everything is numpy; FK and the Jacobian accept
batches of joint vectors with shape ``(..., n)``. Quaternions are (x, y, z, w), as in ROS.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from action_images_ros.core.rotations import (
    euler_to_matrix,
    matrix_to_quat,
    quat_to_matrix,
    rotation_error,
)


class KinematicsError(ValueError):
    """A URDF or chain that cannot be used (missing links, unsupported joints, bad shapes)."""


@dataclass(frozen=True)
class UrdfJoint:
    """One URDF joint: its origin transform (parent link -> joint frame), axis and limits."""

    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray  # (4, 4)
    axis: np.ndarray  # (3,)
    lower: float = -np.inf
    upper: float = np.inf
    velocity: float = np.inf


def urdf_origin(elem: ET.Element | None) -> np.ndarray:
    """The 4x4 transform of a URDF `<origin xyz=... rpy=...>` element (identity if None)."""
    t = np.eye(4)
    if elem is not None:
        t[:3, 3] = np.array(elem.get("xyz", "0 0 0").split(), dtype=float)
        t[:3, :3] = euler_to_matrix(np.array(elem.get("rpy", "0 0 0").split(), dtype=float))
    return t


def parse_urdf(source: str | Path) -> dict[str, UrdfJoint]:
    """Parse the joints of a URDF file (a path, or the XML text itself) keyed by joint name."""
    text = str(source)
    root = ET.fromstring(text) if text.lstrip().startswith("<") else ET.parse(text).getroot()
    joints: dict[str, UrdfJoint] = {}
    for j in root.findall("joint"):
        limit = j.find("limit")
        axis = j.find("axis")
        jtype = j.get("type", "fixed")
        lower, upper, vel = -np.inf, np.inf, np.inf
        if limit is not None and jtype != "continuous":
            lower = float(limit.get("lower", "-inf"))
            upper = float(limit.get("upper", "inf"))
        if limit is not None and limit.get("velocity") is not None:
            vel = float(limit.get("velocity"))
        joints[j.get("name")] = UrdfJoint(
            name=j.get("name"),
            type=jtype,
            parent=j.find("parent").get("link"),
            child=j.find("child").get("link"),
            origin=urdf_origin(j.find("origin")),
            axis=np.array((axis.get("xyz") if axis is not None else "1 0 0").split(), float),
            lower=lower,
            upper=upper,
            velocity=vel,
        )
    return joints


@dataclass(frozen=True)
class IKResult:
    """Result of :meth:`SerialChain.inverse_kinematics`.

    Attributes:
        q: (n,) the best joint vector found (always within the joint limits).
        converged: True when both residuals are below their tolerances.
        position_error: metres between the reached and the target position.
        rotation_error: radians between the reached and the target orientation.
        iterations: iterations used (summed over restarts).
    """

    q: np.ndarray
    converged: bool
    position_error: float
    rotation_error: float
    iterations: int


class SerialChain:
    """A serial chain of revolute/prismatic joints from ``base_link`` to a tip frame.

    Fixed joints on the path are folded into the next joint's origin. ``tip_offset`` (4x4) is
    appended after the tip link (e.g. a tool centre point).
    """

    def __init__(self, joints: list[UrdfJoint], tip_offset: np.ndarray | None = None) -> None:
        self._origins: list[np.ndarray] = []
        self._axes: list[np.ndarray] = []
        self._prismatic: list[bool] = []
        moving: list[UrdfJoint] = []
        pending = np.eye(4)
        for joint in joints:
            pending = pending @ joint.origin
            if joint.type == "fixed":
                continue
            if joint.type not in ("revolute", "continuous", "prismatic"):
                raise KinematicsError(f"joint {joint.name!r} has unsupported type {joint.type!r}")
            self._origins.append(pending)
            self._axes.append(joint.axis / np.linalg.norm(joint.axis))
            self._prismatic.append(joint.type == "prismatic")
            moving.append(joint)
            pending = np.eye(4)
        self._tip = pending @ (np.eye(4) if tip_offset is None else np.asarray(tip_offset))
        self.joint_names: list[str] = [j.name for j in moving]
        self.lower = np.array([j.lower for j in moving])
        self.upper = np.array([j.upper for j in moving])
        self.velocity_limits = np.array([j.velocity for j in moving])

    @classmethod
    def from_urdf(
        cls,
        source: str | Path,
        base_link: str,
        tip_link: str,
        tip_offset: np.ndarray | None = None,
    ) -> SerialChain:
        """Build the chain ``base_link`` -> ``tip_link`` from a URDF path or XML text."""
        by_child = {j.child: j for j in parse_urdf(source).values()}
        path: list[UrdfJoint] = []
        link = tip_link
        while link != base_link:
            if link not in by_child:
                raise KinematicsError(f"no joint chain from {base_link!r} to {tip_link!r}")
            path.append(by_child[link])
            link = by_child[link].parent
        return cls(path[::-1], tip_offset)

    @property
    def dof(self) -> int:
        """Number of moving joints."""
        return len(self._axes)

    def _frames(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint frames (..., n, 4, 4) (before each joint's motion) and the tip (..., 4, 4)."""
        q = np.asarray(q, dtype=np.float64)
        if q.shape[-1] != self.dof:
            raise KinematicsError(f"expected {self.dof} joint values, got shape {q.shape}")
        t = np.broadcast_to(np.eye(4), q.shape[:-1] + (4, 4)).copy()
        frames = []
        for i, (origin, axis) in enumerate(zip(self._origins, self._axes, strict=True)):
            t = t @ origin
            frames.append(t)
            motion = np.broadcast_to(np.eye(4), q.shape[:-1] + (4, 4)).copy()
            if self._prismatic[i]:
                motion[..., :3, 3] = q[..., i, None] * axis
            else:  # Rodrigues
                k = np.array(
                    [[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]
                )
                s, c = np.sin(q[..., i])[..., None, None], np.cos(q[..., i])[..., None, None]
                motion[..., :3, :3] = np.eye(3) + s * k + (1 - c) * (k @ k)
            t = t @ motion
        return np.stack(frames, axis=-3), t @ self._tip

    def fk(self, q: np.ndarray) -> np.ndarray:
        """Homogeneous tip transforms (..., 4, 4) in the base frame for joints (..., n)."""
        return self._frames(q)[1]

    def forward_kinematics(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tip positions (..., 3) and quaternions (..., 4) as (x, y, z, w) in the base frame."""
        tip = self.fk(q)
        return tip[..., :3, 3], matrix_to_quat(tip[..., :3, :3])

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """Geometric Jacobian (..., 6, n) of the tip in the base frame: rows (v; omega)."""
        frames, tip = self._frames(q)
        axes = np.einsum("...nij,nj->...ni", frames[..., :3, :3], np.stack(self._axes))
        lever = tip[..., None, :3, 3] - frames[..., :3, 3]
        prismatic = np.array(self._prismatic)[:, None]
        lin = np.where(prismatic, axes, np.cross(axes, lever))
        ang = np.where(prismatic, 0.0, axes)
        return np.swapaxes(np.concatenate([lin, ang], axis=-1), -1, -2)

    def inverse_kinematics(
        self,
        target_position: np.ndarray,
        target_quat: np.ndarray | None,
        q0: np.ndarray,
        *,
        position_weight: float = 1.0,
        rotation_weight: float = 0.5,
        damping: float = 0.02,
        max_iterations: int = 200,
        position_tolerance: float = 1e-4,
        rotation_tolerance: float = 1e-3,
        max_step: float = 0.3,
        q_rest: np.ndarray | None = None,
        null_space_gain: float = 0.05,
        limit_margin: float = 1e-3,
        restarts: int = 0,
        rng: np.random.Generator | None = None,
    ) -> IKResult:
        """Damped least squares IK toward a tip pose (``target_quat`` None: position only).

        Each step solves ``dq = W J^T (J W J^T + damping^2 I)^-1 e`` on the weighted error, adds
        a null-space pull toward ``q_rest`` (default ``q0``), limits the step to ``max_step``
        rad and clamps to the joint limits (shrunk by ``limit_margin``). When not converged,
        ``restarts`` further attempts start from random joint vectors drawn with ``rng``.
        """
        target_position = np.asarray(target_position, dtype=np.float64)
        rot_target = None if target_quat is None else quat_to_matrix(target_quat)
        lo, hi = self.lower + limit_margin, self.upper - limit_margin
        q_rest = np.clip(np.asarray(q0 if q_rest is None else q_rest, float), lo, hi)
        rows = slice(0, 3) if rot_target is None else slice(0, 6)
        weights = np.array([position_weight] * 3 + [rotation_weight] * 3)[rows]
        rng = rng or np.random.default_rng(0)
        best: IKResult | None = None
        total = 0
        for attempt in range(restarts + 1):
            q = np.clip(np.asarray(q0, float), lo, hi) if attempt == 0 else rng.uniform(lo, hi)
            for iteration in range(max_iterations + 1):
                tip = self.fk(q)
                pos_err = target_position - tip[:3, 3]
                rot_err = (
                    np.zeros(3) if rot_target is None else rotation_error(rot_target, tip[:3, :3])
                )
                e_pos, e_rot = float(np.linalg.norm(pos_err)), float(np.linalg.norm(rot_err))
                if iteration == max_iterations or (
                    e_pos < position_tolerance and e_rot < rotation_tolerance
                ):
                    break
                total += 1
                jac = self.jacobian(q)[rows] * weights[:, None]
                err = np.concatenate([pos_err, rot_err])[rows] * weights
                jjt = jac @ jac.T + damping**2 * np.eye(len(err))
                j_pinv = jac.T @ np.linalg.solve(jjt, np.eye(len(err)))
                dq = j_pinv @ err
                dq += (np.eye(self.dof) - j_pinv @ jac) @ (null_space_gain * (q_rest - q))
                norm = np.linalg.norm(dq)
                if norm > max_step:
                    dq *= max_step / norm
                q = np.clip(q + dq, lo, hi)
            result = IKResult(
                q, e_pos < position_tolerance and e_rot < rotation_tolerance, e_pos, e_rot, total
            )
            if best is None or _score(result) < _score(best):
                best = result
            if best.converged:
                break
        return best  # type: ignore[return-value]


def _score(r: IKResult) -> float:
    return (0.0 if r.converged else 1.0) + r.position_error + 0.1 * r.rotation_error
