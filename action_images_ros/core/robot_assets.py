"""The packaged robot model, its limits and the TF frame names every layer uses.

Code that only needs the URDF path, the limits or the frame names (bag reading, recording,
the nodes, labeling defaults) takes them from here, without importing the sim (which sets
MUJOCO_GL) or a command. The base frame
is the URDF's root link (the link no joint moves); the tool frame is the Panda's TCP between
the fingertip pads, named as franka_description names it (`panda_hand_tcp`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from functools import cache
from pathlib import Path

from action_images_ros.core.kinematics import SerialChain

PANDA_URDF = Path(__file__).resolve().parent.parent / "sim" / "assets" / "panda" / "panda.urdf"
ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
TOOL_FRAME = "panda_hand_tcp"
# A camera `<name>` publishes in the TF frame `<name>_optical_frame`.
OPTICAL_SUFFIX = "_optical_frame"
# Franka Panda joint limits, joints 1..7 (Franka's datasheet; a violation aborts the motion):
# dq_max [rad/s], ddq_max [rad/s^2], jerk [rad/s^3].
PANDA_MAX_VELOCITY = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)
PANDA_MAX_ACCELERATION = (15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0)
PANDA_MAX_JERK = (7500.0, 3750.0, 5000.0, 6250.0, 7500.0, 10000.0, 10000.0)


@cache
def root_link(urdf: str | Path = PANDA_URDF) -> str:
    """The URDF's root link: the one link that is no joint's child."""
    try:
        robot = ElementTree.parse(urdf).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise ValueError(f"cannot read the URDF {urdf}: {error}") from error
    links = [link.get("name") for link in robot.iter("link")]
    children = {child.get("link") for child in robot.iter("child")}
    roots = [link for link in links if link not in children]
    if len(roots) != 1:
        raise ValueError(f"the URDF {urdf} has {len(roots)} root links ({roots}), expected one")
    return roots[0]


def base_frame() -> str:
    """The packaged robot's base frame (its URDF's root link)."""
    return root_link(PANDA_URDF)


# The frames a real Panda's TF tree names (franka_description): the URDF root and its TCP.
BASE_FRAME = base_frame()
TCP_FRAME = TOOL_FRAME


def optical_frame(camera: str) -> str:
    """The TF frame of a camera's optical frame (z forward, x right, y down)."""
    return f"{camera}{OPTICAL_SUFFIX}"


def panda_chain(urdf: str | Path = PANDA_URDF) -> SerialChain:
    """The arm chain from the base frame to the TCP (`panda_hand_tcp`, the sim's `tcp` site)."""
    return SerialChain.from_urdf(urdf, root_link(urdf), TOOL_FRAME)
