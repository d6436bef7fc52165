"""/joint_states into a short, validated history of arm states.

A message is refused, with a reason, when it names joints without positions (or with sizes
that disagree), lacks an arm joint, holds a non-finite arm position, or is stamped in the
future beyond a tolerance (a wrong clock would otherwise look fresh for ever). Accepted states
are kept for `history` seconds so an observation can pair a camera set with the state nearest
its stamp; `fresh` judges the newest one on both sides: too old or from the future.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import JointState

from action_images_ros.nodes.conversions import duration_from_msg


@dataclass(frozen=True)
class ArmState:
    """One accepted joint state: arm positions (and velocities when reported) in the configured
    joint order, the gripper openness (1 when not reported) and the stamp in seconds."""

    stamp: float
    positions: np.ndarray
    velocities: np.ndarray | None
    gripper: float


class JointStateIntake:
    """Validates /joint_states messages and keeps the recent accepted ones (thread-safe)."""

    def __init__(
        self,
        joint_names: Sequence[str],
        gripper_joint: str,
        gripper_open_position: float,
        future_tolerance: float,
        history: float = 2.0,
    ) -> None:
        self.joint_names = list(joint_names)
        self.gripper_joint, self.gripper_open = gripper_joint, gripper_open_position
        self.future_tolerance, self.history = future_tolerance, history
        self._states: deque[ArmState] = deque()
        self._lock = threading.Lock()

    def add(self, msg: JointState, now: float) -> str | None:
        """Store the message's arm state; returns why it was refused, or None."""
        names = list(msg.name)
        if len(msg.position) != len(names):
            return f"/joint_states has {len(names)} names but {len(msg.position)} positions"
        index = {name: i for i, name in enumerate(names)}
        missing = [name for name in self.joint_names if name not in index]
        if missing:
            return f"/joint_states lacks {missing}"
        q = np.array([msg.position[index[name]] for name in self.joint_names], dtype=np.float64)
        if not np.all(np.isfinite(q)):
            bad = [n for n, v in zip(self.joint_names, q, strict=True) if not np.isfinite(v)]
            return f"/joint_states has non-finite positions for {bad}"
        stamp = duration_from_msg(msg.header.stamp)
        if stamp > now + self.future_tolerance:
            return (
                f"/joint_states stamped {stamp - now:.3f} s in the future "
                f"(future_tolerance {self.future_tolerance} s)"
            )
        velocities = None
        if len(msg.velocity) == len(names):
            v = np.array([msg.velocity[index[name]] for name in self.joint_names])
            velocities = v if np.all(np.isfinite(v)) else None
        gripper = 1.0
        if self.gripper_joint in index:
            opening = msg.position[index[self.gripper_joint]] / self.gripper_open
            gripper = float(np.clip(opening, 0.0, 1.0)) if np.isfinite(opening) else 1.0
        state = ArmState(stamp, q, velocities, gripper)
        with self._lock:
            self._states.append(state)
            while self._states and self._states[0].stamp < stamp - self.history:
                self._states.popleft()
        return None

    def latest(self) -> ArmState | None:
        with self._lock:
            return self._states[-1] if self._states else None

    def fresh(self, now: float, timeout: float) -> tuple[ArmState | None, str]:
        """The newest state if it is neither older than `timeout` nor in the future at `now`;
        else None and why."""
        state = self.latest()
        if state is None:
            return None, "no joint states yet"
        age = now - state.stamp
        if age > timeout:
            return None, f"joint states are {age:.2f} s old (watchdog_timeout {timeout} s)"
        if age < -self.future_tolerance:
            return None, f"joint states are stamped {-age:.2f} s in the future"
        return state, ""

    def nearest(self, stamp: float) -> ArmState | None:
        """The accepted state stamped nearest `stamp`."""
        with self._lock:
            states = list(self._states)
        return min(states, key=lambda s: abs(s.stamp - stamp), default=None)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()
