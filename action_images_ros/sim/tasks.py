"""Tasks for the Panda scene: seeded initial states and success checks.

- ``reach``: bring the tcp within 2.5 cm of a randomly placed target sphere.
- ``pick``: lift the cube more than 5 cm above the table while both fingers hold it.
- ``place``: put the cube down inside the goal disc (centre within 3 cm) and let go of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.scene import CUBE_HALF

FINGERS = ("panda_leftfinger", "panda_rightfinger")


def yaw_quat(yaw: float) -> np.ndarray:
    """Quaternion (x, y, z, w) of a rotation by ``yaw`` about the base z axis."""
    return np.array([0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)])


def cube_held(sim: PandaSim) -> bool:
    """Both fingers touch the cube."""
    return all(sim.touching("cube", finger) for finger in FINGERS)


@dataclass
class Task(ABC):
    """A seeded task: :meth:`reset` randomises the scene, :meth:`success` judges it."""

    name: str = ""
    instruction: str = ""
    max_duration: float = 15.0  # seconds of sim time an episode may take
    info: dict = field(default_factory=dict)

    @abstractmethod
    def reset(self, sim: PandaSim, seed: int) -> None:
        """Reset ``sim`` and randomise the task's objects from ``seed``."""

    @abstractmethod
    def success(self, sim: PandaSim) -> bool:
        """Whether the task is solved in the current state."""

    @abstractmethod
    def measure(self, sim: PandaSim) -> dict[str, float]:
        """How close the current state is to success, in the units of :meth:`success`'s test
        (for reports: a failed episode says how far it got)."""

    def _place_cube(self, sim: PandaSim, rng: np.random.Generator) -> None:
        pos = np.array([rng.uniform(0.4, 0.62), rng.uniform(-0.2, 0.2), CUBE_HALF])
        yaw = rng.uniform(-np.pi / 4, np.pi / 4)
        sim.set_object_pose(pos, yaw_quat(yaw))
        self.info.update(cube_start=pos, cube_yaw=yaw)


@dataclass
class ReachTarget(Task):
    """Move the tcp within ``tolerance`` m of the green target sphere."""

    name: str = "reach"
    instruction: str = "reach the green target"
    tolerance: float = 0.025

    def reset(self, sim: PandaSim, seed: int) -> None:
        rng = np.random.default_rng(seed)
        sim.reset(seed)
        sim.set_object_pose(np.array([0.5, 0.3, CUBE_HALF]))  # out of the way
        target = np.array(
            [rng.uniform(0.35, 0.65), rng.uniform(-0.25, 0.25), rng.uniform(0.08, 0.35)]
        )
        sim.set_marker("target", target)
        self.info = {"target": target}

    def success(self, sim: PandaSim) -> bool:
        return self.measure(sim)["distance_m"] < self.tolerance

    def measure(self, sim: PandaSim) -> dict[str, float]:
        dist = np.linalg.norm(sim.ee_pose()[0] - sim.marker_position("target"))
        return {"distance_m": float(dist)}


@dataclass
class PickCube(Task):
    """Lift the cube more than ``lift`` m above the table, held by both fingers."""

    name: str = "pick"
    instruction: str = "pick up the red cube"
    lift: float = 0.05

    def reset(self, sim: PandaSim, seed: int) -> None:
        rng = np.random.default_rng(seed)
        sim.reset(seed)
        self.info = {}
        self._place_cube(sim, rng)

    def success(self, sim: PandaSim) -> bool:
        measured = self.measure(sim)
        return bool(measured["lift_m"] > self.lift and measured["held"])

    def measure(self, sim: PandaSim) -> dict[str, float]:
        bottom = sim.object_pose("cube")[0][2] - CUBE_HALF
        return {"lift_m": float(bottom), "held": float(cube_held(sim))}


@dataclass
class PlaceCube(Task):
    """Put the cube on the blue goal disc (centre within ``tolerance`` m) and release it."""

    name: str = "place"
    instruction: str = "put the red cube on the blue disc"
    tolerance: float = 0.03
    max_duration: float = 20.0

    def reset(self, sim: PandaSim, seed: int) -> None:
        rng = np.random.default_rng(seed)
        sim.reset(seed)
        self.info = {}
        self._place_cube(sim, rng)
        while True:
            goal = np.array([rng.uniform(0.4, 0.62), rng.uniform(-0.22, 0.22), 0.0005])
            if np.linalg.norm(goal[:2] - self.info["cube_start"][:2]) > 0.12:
                break
        sim.set_marker("goal", goal)
        self.info["goal"] = goal

    def success(self, sim: PandaSim) -> bool:
        measured = self.measure(sim)
        resting = measured["height_m"] < 0.005
        return bool(measured["distance_m"] < self.tolerance and resting and measured["released"])

    def measure(self, sim: PandaSim) -> dict[str, float]:
        pos = sim.object_pose("cube")[0]
        return {
            "distance_m": float(np.linalg.norm(pos[:2] - sim.marker_position("goal")[:2])),
            "height_m": float(pos[2] - CUBE_HALF),
            "released": float(not any(sim.touching("cube", finger) for finger in FINGERS)),
        }


TASKS: dict[str, type[Task]] = {"reach": ReachTarget, "pick": PickCube, "place": PlaceCube}


def make_task(name: str) -> Task:
    """A task by name: one of :data:`TASKS`."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
    return TASKS[name]()
