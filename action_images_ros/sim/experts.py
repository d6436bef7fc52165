"""Scripted experts: end-effector waypoints -> IK -> joint trajectories -> the controller.

An expert looks at the task's true object state once and returns :class:`Waypoint` s (tcp pose
in the base frame, gripper openness, segment duration). :func:`execute_waypoints` turns every
segment into a straight Cartesian line with a minimum-jerk time law, solves IK along it with the
shared :class:`~action_images_ros.core.kinematics.SerialChain` (warm-started), and sends it through
the safety layer (:func:`~action_images_ros.core.safety.limit_joint_trajectory`) as a positions +
velocities + accelerations (quintic) trajectory within the Panda's limits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from action_images_ros.core.rotations import matrix_to_quat, quat_to_matrix, rotation_error
from action_images_ros.core.safety import SafetyLimits, limit_joint_trajectory
from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.scene import CUBE_HALF
from action_images_ros.sim.tasks import Task
from action_images_ros.sim.trajectory_controller import Acceptance, TrajectoryGoal, TrajectoryPoint


class ExpertArm(Protocol):
    """Where an expert's commands go: the sim itself, a recording of it, or the ROS topics of
    a controller. `time` is the arm's (simulated) clock; `step` lets `dt` seconds of it pass."""

    @property
    def time(self) -> float: ...

    def set_gripper(self, openness: float) -> None: ...

    def send_trajectory(self, trajectory: TrajectoryGoal) -> Acceptance: ...

    def step(self, dt: float) -> None: ...


StepCallback = Callable[[ExpertArm], None]


@dataclass
class Waypoint:
    """Reach ``position``/``quat`` (x, y, z, w) in ``duration`` s with the gripper commanded to
    ``gripper`` (0 closed .. 1 open) from the segment's start, then wait ``settle`` s."""

    position: np.ndarray
    quat: np.ndarray
    gripper: float
    duration: float
    settle: float = 0.0


@dataclass
class EpisodeResult:
    """Outcome of :func:`run_episode`."""

    success: bool
    sim_time: float
    ik_failures: int
    waypoints: list[Waypoint] = field(default_factory=list)


def top_down_quat(yaw: float = 0.0) -> np.ndarray:
    """tcp orientation pointing straight down (z = -z_base), rotated by ``yaw`` about z_base."""
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return matrix_to_quat(rz @ np.diag([1.0, -1.0, -1.0]))


def slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions (x, y, z, w), shortest path."""
    dot = float(np.dot(q0, q1))
    if dot < 0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + s * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1 - s) * theta) * q0 + np.sin(s * theta) * q1) / np.sin(theta)


def _min_jerk(tau: float) -> float:
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


def plan_segment(
    sim: PandaSim, q_start: np.ndarray, wp: Waypoint, dt: float = 0.1
) -> tuple[TrajectoryGoal, np.ndarray, int]:
    """IK along the straight line from FK(``q_start``) to ``wp``; returns the trajectory (it takes
    ``wp.duration``, or longer where a joint would be too fast), the final joint vector and
    the number of IK samples that did not converge."""
    chain = sim.chain
    start = chain.fk(q_start)
    p0, quat0 = start[:3, 3], matrix_to_quat(start[:3, :3])
    n = max(2, int(np.ceil(wp.duration / dt)))
    times = wp.duration * np.arange(1, n + 1) / n
    q, qs, failures = q_start.copy(), [q_start], 0
    rest = np.asarray(sim.config.home_q)
    for k in range(1, n + 1):
        s = _min_jerk(k / n)
        res = chain.inverse_kinematics(
            p0 + s * (wp.position - p0),
            slerp(quat0, wp.quat, s),
            q,
            q_rest=rest,
            max_iterations=100,
            position_tolerance=2e-4,
            rotation_tolerance=2e-3,
        )
        failures += not res.converged
        q = res.q
        qs.append(q)
    # Through the safety layer, as a policy's commands go: the same path, slowed down as a
    # whole where a joint would pass 80 % of its velocity limit (near a singularity a straight
    # tcp line can ask a lot of one joint) or the Panda's acceleration or jerk limits, and sent
    # as positions, velocities and accelerations (quintic in the controller).
    limits = SafetyLimits(
        chain.lower,
        chain.upper,
        chain.velocity_limits,
        position_margin=0.0,
        velocity_scale=0.8,
        max_acceleration=np.asarray(sim.config.arm_max_acceleration),
        max_jerk=np.asarray(sim.config.arm_max_jerk),
    )
    safe = limit_joint_trajectory(q_start, np.stack(qs[1:]), times, limits)
    points = [
        TrajectoryPoint(p, float(t), v, a)
        for p, t, v, a in zip(
            safe.positions, safe.times, safe.velocities, safe.accelerations, strict=True
        )
    ]
    return TrajectoryGoal(list(chain.joint_names), points), q, failures


def execute_waypoints(
    sim: PandaSim,
    waypoints: list[Waypoint],
    on_step: StepCallback | None = None,
    control_dt: float = 0.05,
    arm: ExpertArm | None = None,
    q_start: np.ndarray | None = None,
) -> int:
    """Plan ``waypoints`` on ``sim``'s kinematics and run them on ``arm`` (default: ``sim``),
    from ``q_start`` (default: where the sim's controller splines from), stepping
    ``control_dt`` at a time and calling ``on_step`` after each step; returns the number of IK
    samples that did not converge. Every expert episode (in the sim, recorded to a bag, over
    ROS in the demo) runs through here."""
    arm = sim if arm is None else arm
    q = sim.controller.desired_state(sim.time)[0] if q_start is None else q_start
    failures = 0
    for wp in waypoints:
        traj, q, fails = plan_segment(sim, q, wp)
        failures += fails
        arm.set_gripper(wp.gripper)
        result = arm.send_trajectory(traj)
        if not result.accepted:
            raise RuntimeError(f"expert trajectory rejected: {result.reason}")
        end = arm.time + traj.points[-1].time_from_start + wp.settle
        while arm.time < end - 1e-9:
            arm.step(control_dt)
            if on_step is not None:
                on_step(arm)
    return failures


def _travel(
    a: np.ndarray,
    b: np.ndarray,
    turn: float = 0.0,
    speed: float = 0.35,
    turn_speed: float = 0.8,
    minimum: float = 0.8,
) -> float:
    """Seconds to move from `a` to `b` while turning `turn` rad (average speeds)."""
    distance = float(np.linalg.norm(np.asarray(b) - np.asarray(a)))
    return max(minimum, distance / speed, abs(turn) / turn_speed)


def _turn(q0: np.ndarray, q1: np.ndarray) -> float:
    """The angle (rad) between two orientations (quaternions x, y, z, w)."""
    return float(np.linalg.norm(rotation_error(quat_to_matrix(q1), quat_to_matrix(q0))))


def reach_waypoints(sim: PandaSim, task: Task) -> list[Waypoint]:
    """Straight to the target, gripper open."""
    target = sim.marker_position("target")
    position, quat = sim.ee_pose()
    duration = _travel(position, target, _turn(quat, top_down_quat()))
    return [Waypoint(target, top_down_quat(), 1.0, duration, 0.3)]


def pick_waypoints(sim: PandaSim, task: Task) -> list[Waypoint]:
    """Above the cube, down, close, lift 15 cm (a closed gripper first rises to the height
    above the cube, then opens on the way over it)."""
    pos, quat = sim.object_pose("cube")
    rot = quat_to_matrix(quat)
    yaw = np.arctan2(rot[1, 0], rot[0, 0])
    yaw = (yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4  # cube symmetry: nearest grasp yaw
    down = top_down_quat(yaw)
    grasp = np.array([pos[0], pos[1], CUBE_HALF])
    above = grasp + [0.0, 0.0, 0.12]
    lifted = grasp + [0.0, 0.0, 0.15]
    start, start_quat = sim.ee_pose()
    clear = []
    if sim.gripper_openness() < 0.5:  # closed (a missed grasp): rise to the approach height
        # before opening, so that an open gripper low over the table only ever goes down
        risen = np.array([start[0], start[1], above[2]])
        clear, start = [Waypoint(risen, start_quat, 0.0, _travel(start, risen))], risen
    return clear + [
        Waypoint(above, down, 1.0, _travel(start, above, _turn(start_quat, down))),
        Waypoint(grasp, down, 1.0, 1.0, 0.1),
        Waypoint(grasp, down, 0.0, 0.6, 0.2),
        Waypoint(lifted, down, 0.0, 1.2, 0.3),
    ]


def place_waypoints(sim: PandaSim, task: Task) -> list[Waypoint]:
    """Pick, carry above the goal, lower, open, retreat."""
    wps = pick_waypoints(sim, task)
    down = wps[-1].quat
    goal = sim.marker_position("goal")
    over = np.array([goal[0], goal[1], CUBE_HALF + 0.15])
    put = np.array([goal[0], goal[1], CUBE_HALF + 0.004])
    return wps + [
        Waypoint(over, down, 0.0, _travel(wps[-1].position, over)),
        Waypoint(put, down, 0.0, 1.0, 0.2),
        Waypoint(put, down, 1.0, 0.5, 0.2),
        Waypoint(over, down, 1.0, 0.8, 0.2),
    ]


START_REGION = (np.array([0.3, -0.3, 0.1]), np.array([0.65, 0.3, 0.4]))  # tcp, base frame


def random_start(sim: PandaSim, rng: np.random.Generator, attempts: int = 20) -> None:
    """Put the arm at a random top-down tcp pose in :data:`START_REGION` (yaw within 0.5 rad),
    so that demonstrations also start where a learned policy may have drifted to."""
    for _ in range(attempts):
        position = rng.uniform(*START_REGION)
        quat = top_down_quat(rng.uniform(-0.5, 0.5))
        result = sim.chain.inverse_kinematics(
            position, quat, sim.joint_positions(), q_rest=np.asarray(sim.config.home_q)
        )
        if result.converged:
            sim.place_arm(result.q)
            return
    raise RuntimeError(f"no IK solution for a random start in {attempts} attempts")


def missed_grasp(sim: PandaSim, rng: np.random.Generator) -> None:
    """Grasp 4.5-6 cm beside the cube (random side) and close on nothing: a start state
    for demonstrations of recovering from a missed grasp (the closed gripper is in the action
    image, so the miss is visible to a policy)."""
    cube = sim.object_pose("cube")[0]
    side = rng.uniform(-np.pi, np.pi)
    miss = np.array([cube[0], cube[1], CUBE_HALF])
    miss[:2] += rng.uniform(0.045, 0.06) * np.array([np.cos(side), np.sin(side)])
    # The fingers close across the offset (within 0.3 rad), so they come down beside the cube
    # without touching it; yaw wrapped to [-pi/2, pi/2) (the gripper is symmetric).
    yaw = (side + rng.uniform(-0.3, 0.3) + np.pi / 2) % np.pi - np.pi / 2
    down = top_down_quat(yaw)
    above = miss + [0.0, 0.0, 0.12]
    start, start_quat = sim.ee_pose()
    execute_waypoints(
        sim,
        [
            Waypoint(above, down, 1.0, _travel(start, above, _turn(start_quat, down))),
            Waypoint(miss, down, 1.0, 1.0, 0.1),
            Waypoint(miss, down, 0.0, 0.6, 0.2),
        ],
    )


def start_episode(
    sim: PandaSim,
    task: Task,
    seed: int,
    random_start_pose: bool = False,
    miss_first_grasp: bool = False,
) -> None:
    """Reset ``task`` from ``seed``; with ``random_start_pose`` the arm then goes to a
    :func:`random_start`, and with ``miss_first_grasp`` it then closes beside the cube
    (:func:`missed_grasp`), both drawn from the same seed."""
    task.reset(sim, seed)
    if random_start_pose:
        random_start(sim, np.random.default_rng([seed, 1]))
    if miss_first_grasp:
        missed_grasp(sim, np.random.default_rng([seed, 2]))


EXPERTS: dict[str, Callable[[PandaSim, Task], list[Waypoint]]] = {
    "reach": reach_waypoints,
    "pick": pick_waypoints,
    "place": place_waypoints,
}


def run_episode(
    sim: PandaSim,
    task: Task,
    seed: int,
    on_step: StepCallback | None = None,
    random_start_pose: bool = False,
    miss_first_grasp: bool = False,
    arm: ExpertArm | None = None,
    on_start: Callable[[], None] | None = None,
) -> EpisodeResult:
    """Start an episode (:func:`start_episode`), call ``on_start``, run the task's expert on
    ``arm`` (default: ``sim``; :func:`execute_waypoints`), and judge success at the end."""
    start_episode(sim, task, seed, random_start_pose, miss_first_grasp)
    if on_start is not None:
        on_start()
    waypoints = EXPERTS[task.name](sim, task)
    failures = execute_waypoints(sim, waypoints, on_step, arm=arm)
    return EpisodeResult(task.success(sim), sim.time, failures, waypoints)
