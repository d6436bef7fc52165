"""The simulated demo: seeded episodes per task in closed loop through ROS 2, with a report.

    scripts/bootstrap.sh demo [--tasks reach pick place] [--episodes 3] [--out outputs/demo]
    scripts/bootstrap.sh demo --checkpoint runs/small/model --real-time-factor 0.2
    scripts/bootstrap.sh demo --expert

The sim node runs the MuJoCo Panda behind its ROS 2 interfaces. The policy node runs the
packaged default model (or `--checkpoint`) in closed loop (cameras and joint states over DDS
in, JointTrajectory and gripper commands out, `enable_control` on). The nodes run in this
process, each spun by its own executor thread (so that one node's slow callback delays no
other's inputs), but the demo drives episodes only over ROS 2: the sim's `task`/`seed`
parameters and /sim/reset start an episode, /policy/set_task and /policy/reset prepare the
policy, and /sim/task_progress says whether and how nearly the task is solved. With
`--expert` (or while no default model is packaged), a driver node commands the arm with the
scripted expert, which reads the task's true object poses (a privileged demonstrator), through
the same joint_trajectory_controller and gripper topics.
The labeling node draws the action images (and the recent end-effector path) over the camera
images. The report holds the success rate per task, an mp4 per episode (all views side by
side, with the action-image overlays), a plot of commanded versus achieved end-effector paths,
and with a model its inference latency per chunk.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rclpy
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from tqdm import tqdm
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.chunk_execution import MERGE_MODES
from action_images_ros.core.policy import Observation, Policy
from action_images_ros.core.robot_assets import PANDA_URDF as URDF_PATH
from action_images_ros.core.robot_assets import panda_chain
from action_images_ros.data.video import write_video
from action_images_ros.model.config import DEFAULT_CHECKPOINT
from action_images_ros.msg import ActionChunk as ActionChunkMsg
from action_images_ros.msg import TaskProgress
from action_images_ros.nodes.conversions import (
    action_chunk_from_msg,
    duration_from_msg,
    joint_trajectory_to_msg,
)
from action_images_ros.nodes.image_conversions import image_to_rgb
from action_images_ros.nodes.labeling_node import LabelingNode
from action_images_ros.nodes.policy_node import PolicyNode
from action_images_ros.nodes.sim_node import SimNode
from action_images_ros.sim.experts import EXPERTS, execute_waypoints
from action_images_ros.sim.tasks import TASKS, make_task
from action_images_ros.sim.trajectory_controller import Acceptance, TrajectoryGoal
from action_images_ros.srv import SetTask

PANDA = panda_chain()


class DemoDriver(Node):
    """Drives and watches the nodes over ROS 2 only: the sim's clock, joint states, task
    progress and the labeling overlays in; the sim's task/seed parameters and /sim/reset, the
    policy's ~/set_task and ~/reset, and (for the scripted expert) the controller and gripper
    topics out."""

    def __init__(self, cameras: Sequence[str]) -> None:
        super().__init__("demo_driver")
        self.cameras = list(cameras)
        self.sim_time = 0.0
        self.progress: TaskProgress | None = None
        self.joint_state: JointState | None = None
        self.frames: dict[float, dict[str, np.ndarray]] = {}
        self.targets: list[np.ndarray] = []  # the policy's valid chunk positions
        self._lock = threading.Lock()
        self.create_subscription(Clock, "/clock", self._on_clock, 10)
        self.create_subscription(JointState, "/joint_states", self._on_joints, 10)
        self.create_subscription(TaskProgress, "/sim/task_progress", self._on_progress, 10)
        self.create_subscription(ActionChunkMsg, "/policy/action_chunk", self._on_chunk, 10)
        for camera in self.cameras:
            self.create_subscription(
                Image,
                f"/labeling/{camera}/overlay",
                lambda msg, c=camera: self._on_image(c, msg),
                10,
            )
        self.trajectory = self.create_publisher(
            JointTrajectory, "/panda_arm_controller/joint_trajectory", 10
        )
        self.gripper = self.create_publisher(Float64MultiArray, "/gripper_controller/commands", 10)
        self._service_clients: dict[str, object] = {}

    def call(self, service_type: type, name: str, request: object, timeout: float = 30.0):
        """Call a service (the executor spins this node in another thread); its response."""
        if name not in self._service_clients:
            self._service_clients[name] = self.create_client(service_type, name)
        client = self._service_clients[name]
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} is not available")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"service {name} did not answer in {timeout} s")
            time.sleep(0.005)
        return future.result()

    def start_episode(self, task: str, seed: int) -> None:
        """A new sim episode of (task, seed): the sim's parameters, then /sim/reset; returns
        once the sim reports that episode (so no outcome of the last one is read as this
        one's)."""
        parameters = [Parameter("task", value=task), Parameter("seed", value=seed)]
        request = SetParameters.Request(parameters=[p.to_parameter_msg() for p in parameters])
        for result in self.call(SetParameters, "/sim/set_parameters", request).results:
            if not result.successful:
                raise ValueError(f"the sim refused task {task!r} seed {seed}: {result.reason}")
        reply = self.call(Trigger, "/sim/reset", Trigger.Request())
        if not reply.success:
            raise RuntimeError(f"/sim/reset failed: {reply.message}")
        self.progress = None
        deadline = time.monotonic() + 30.0
        while not (self.progress and (self.progress.task, self.progress.seed) == (task, seed)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sim never reported episode {task} seed {seed}")
            time.sleep(0.005)

    @property
    def success(self) -> bool:
        return bool(self.progress and self.progress.success)

    def measure(self) -> dict[str, float]:
        """How close the episode is to success (the task's own measure), from the sim."""
        names, values = self.progress.measure_names, self.progress.measure_values
        return dict(zip(names, values, strict=True))

    def _on_clock(self, msg: Clock) -> None:
        self.sim_time = duration_from_msg(msg.clock)

    def _on_joints(self, msg: JointState) -> None:
        self.joint_state = msg

    def _on_progress(self, msg: TaskProgress) -> None:
        self.progress = msg

    def _on_chunk(self, msg: ActionChunkMsg) -> None:
        chunk = action_chunk_from_msg(msg)
        with self._lock:
            self.targets.extend(chunk.positions[chunk.valid])

    def _on_image(self, camera: str, msg: Image) -> None:
        with self._lock:
            self.frames.setdefault(duration_from_msg(msg.header.stamp), {})[camera] = image_to_rgb(
                msg
            )

    def take_frames(self) -> list[np.ndarray]:
        """Complete multi-view sets received so far, in time order, views side by side."""
        with self._lock:
            sets = [self.frames[t] for t in sorted(self.frames)]
            self.frames = {}
        return [
            np.hstack([s[c] for c in self.cameras]) for s in sets if len(s) == len(self.cameras)
        ]

    def take_targets(self) -> np.ndarray:
        with self._lock:
            targets, self.targets = self.targets, []
        return np.array(targets).reshape(-1, 3)

    def tcp_position(self) -> np.ndarray:
        """The achieved tool position, by forward kinematics of the latest joint state."""
        return PANDA.fk(np.array(self.joint_state.position[:7]))[:3, 3]

    def wait_sim_time(self, until: float, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.sim_time < until:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sim time stuck at {self.sim_time:.2f} s")
            time.sleep(0.005)


class TimedPolicy:
    """A policy that remembers how long each chunk took (and passes set_task/reset on)."""

    def __init__(self, policy: Policy) -> None:
        self.policy, self.latencies = policy, []

    def predict(self, observation: Observation) -> ActionChunk:
        start = time.perf_counter()
        chunk = self.policy.predict(observation)
        self.latencies.append(time.perf_counter() - start)
        return chunk

    def set_task(self, task: str) -> None:
        self.policy.set_task(task)

    def reset(self, seed: int = 0) -> None:
        self.policy.reset(seed)

    @property
    def accepts_given_actions(self) -> bool:
        return bool(getattr(self.policy, "accepts_given_actions", False))

    @property
    def frame_interval(self) -> float:
        return self.policy.frame_interval


def run_policy_episode(
    driver: DemoDriver, task: str, seed: int, tell_task: bool, max_duration: float = 0.0
) -> dict:
    """Tell the policy node the task (`tell_task`: a model trained with task names), start the
    sim episode (task, seed), reset the policy (plan and noise), and let it act until success or
    until `max_duration` s of sim time (0 = the task's own limit) have passed; all over ROS."""
    if tell_task:
        reply = driver.call(SetTask, "/policy/set_task", SetTask.Request(task=task))
        if not reply.success:
            raise ValueError(f"the policy refused task {task!r}: {reply.message}")
    driver.start_episode(task, seed)
    reply = driver.call(Trigger, "/policy/reset", Trigger.Request())
    if not reply.success:
        raise RuntimeError(f"/policy/reset failed: {reply.message}")
    driver.take_targets()
    driver.take_frames()
    start, achieved = driver.sim_time, []
    deadline = start + (max_duration or make_task(task).max_duration)
    while driver.sim_time < deadline and not driver.success:
        driver.wait_sim_time(driver.sim_time + 0.1)
        achieved.append(driver.tcp_position())
    solved = driver.success  # the episode ends when solved: that counts, as in RLBench
    final = driver.measure()
    driver.wait_sim_time(driver.sim_time + 0.3)
    return {
        "task": task,
        "seed": seed,
        "success": solved,
        "final": final,
        "duration": driver.sim_time - start,
        "frames": driver.take_frames(),
        "commanded": driver.take_targets(),
        "achieved": np.array(achieved),
    }


def run_episode(sim_node: SimNode, driver: DemoDriver, task: str, seed: int) -> dict:
    """Start the sim episode (task, seed) over ROS and run the scripted expert through the
    controller topics. The expert is a privileged demonstrator: it plans from the sim's true
    object poses (read in-process), which no policy gets."""
    sim = sim_node.sim
    driver.start_episode(task, seed)
    with sim_node.lock:  # the privileged expert reads the true object poses
        waypoints = EXPERTS[task](sim, sim_node.task)
        q = sim.joint_positions()
    driver.take_frames()
    time.sleep(0.2)
    achieved = []
    execute_waypoints(
        sim,
        waypoints,
        lambda _: achieved.append(driver.tcp_position()),
        control_dt=0.1,
        arm=ControllerTopics(driver),
        q_start=q,
    )
    driver.wait_sim_time(driver.sim_time + 0.3)
    return {
        "task": task,
        "seed": seed,
        "success": driver.success,
        "final": driver.measure(),
        "frames": driver.take_frames(),
        "commanded": np.array([waypoint.position for waypoint in waypoints]),
        "achieved": np.array(achieved),
    }


class ControllerTopics:
    """The expert's arm in the demo: the joint_trajectory_controller and gripper topics, on
    the sim's clock (`experts.ExpertArm`)."""

    def __init__(self, driver: DemoDriver) -> None:
        self._driver = driver

    @property
    def time(self) -> float:
        return self._driver.sim_time

    def set_gripper(self, openness: float) -> None:
        self._driver.gripper.publish(Float64MultiArray(data=[float(openness)]))

    def send_trajectory(self, trajectory: TrajectoryGoal) -> Acceptance:
        points = trajectory.points
        message = joint_trajectory_to_msg(
            list(trajectory.joint_names),
            np.array([p.positions for p in points]),
            np.array([p.time_from_start for p in points]),
            np.array([p.velocities for p in points]),
        )
        for point, planned in zip(message.points, points, strict=True):
            point.accelerations = [float(a) for a in planned.accelerations]  # quintic in JTC
        self._driver.trajectory.publish(message)
        return Acceptance(True)

    def step(self, dt: float) -> None:
        self._driver.wait_sim_time(self._driver.sim_time + dt)


def write_report(
    records: list[dict], out: Path, fps: float, driver: str, latencies: list[float] | None = None
) -> dict:
    """mp4s, the path plot and report.json; returns the per-task success summary."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    figure = plt.figure(figsize=(6, 5))
    axes = figure.add_subplot(projection="3d")
    for record in records:
        name = f"{record['task']}_seed{record['seed']:03d}"
        if record["frames"]:
            write_video(out / f"{name}.mp4", np.stack(record["frames"]), fps)
        achieved = record["achieved"].reshape(-1, 3)
        (line,) = axes.plot(*achieved.T, label=f"{name} achieved")
        axes.scatter(*record["commanded"].reshape(-1, 3).T, color=line.get_color(), marker="x")
    axes.set_xlabel("x [m]")
    axes.set_ylabel("y [m]")
    axes.set_zlabel("z [m]")
    axes.set_title("end-effector paths: achieved (lines), commanded targets (x)")
    axes.legend(fontsize=6, loc="upper left")
    figure.savefig(out / "paths.png", dpi=120)
    plt.close(figure)
    summary = {}
    for task in dict.fromkeys(r["task"] for r in records):
        outcomes = [r["success"] for r in records if r["task"] == task]
        summary[task] = {"episodes": len(outcomes), "success_rate": sum(outcomes) / len(outcomes)}
    report = {
        "driver": driver,
        "per_task": summary,
        "episodes": [{k: r[k] for k in ("task", "seed", "success", "final")} for r in records],
    }
    if latencies:
        report["inference_latency_s"] = {
            "chunks": len(latencies),
            "p50": float(np.percentile(latencies, 50)),
            "p90": float(np.percentile(latencies, 90)),
            "max": float(np.max(latencies)),
        }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks", nargs="+", help="default: the model's tasks, or all with the expert"
    )
    parser.add_argument("--episodes", type=int, default=2, help="seeded episodes per task")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"))
    parser.add_argument(
        "--size",
        type=int,
        help="camera image size (64 with a model: the default model's demonstrations; 128)",
    )
    parser.add_argument(
        "--real-time-factor", type=float, help="sim seconds per wall second (1; 0.5 with a model)"
    )
    parser.add_argument(
        "--checkpoint", type=Path, help="model directory (default: the packaged default model)"
    )
    parser.add_argument(
        "--expert", action="store_true", help="drive with the scripted expert, not a model"
    )
    parser.add_argument(
        "--inference-steps", type=int, default=5, help="denoising steps per chunk (5: as evaluated)"
    )
    parser.add_argument(
        "--chunk-merge",
        choices=MERGE_MODES,
        default="crossfade",
        help="how the policy node joins a new chunk to the plan (inpaint: the model continues "
        "the steps that execute while it runs)",
    )
    parser.add_argument(
        "--max-duration",
        type=float,
        default=0.0,
        help="sim seconds per policy episode (0 = task's)",
    )
    args = parser.parse_args(argv)
    if args.expert:
        args.checkpoint = None
    elif args.checkpoint is None and DEFAULT_CHECKPOINT.exists():
        args.checkpoint = DEFAULT_CHECKPOINT
    if args.real_time_factor is None:
        args.real_time_factor = 0.5 if args.checkpoint else 1.0
    if args.size is None:
        args.size = 64 if args.checkpoint else 128

    driver_name = (
        f"policy node with {args.checkpoint} through ROS 2"
        if args.checkpoint
        else "scripted expert through ROS 2 (privileged demonstrator)"
    )
    print(
        f"action_images_ros demo: the MuJoCo Panda behind ROS 2, driven in closed loop through "
        f"its topics by the {driver_name}; the labeling node draws the action images into the "
        "videos."
    )
    policy = None
    if args.checkpoint:
        from action_images_ros.model.policy import VideoActionPolicy  # torch only when needed

        policy = TimedPolicy(
            VideoActionPolicy.from_pretrained(
                args.checkpoint, num_inference_steps=args.inference_steps
            )
        )
        if args.tasks is None and policy.policy.knows_tasks:
            args.tasks = [task for task in policy.policy.tasks if task in TASKS]
    args.tasks = args.tasks or list(TASKS)
    args.out.mkdir(parents=True, exist_ok=True)
    rclpy.init()
    calibration = args.out / "sim_calibration.yaml"
    sim_node = SimNode(
        parameter_overrides=[
            Parameter("image_width", value=args.size),
            Parameter("image_height", value=args.size),
            Parameter("real_time_factor", value=args.real_time_factor),
            Parameter("calibration_file", value=str(calibration)),
            Parameter("urdf", value=str(URDF_PATH)),
        ]
    )
    cameras = [c.name for c in sim_node.sim.cameras]
    labeling_node = LabelingNode(
        parameter_overrides=[
            Parameter("use_sim_time", value=True),
            Parameter("urdf", value=str(URDF_PATH)),
            Parameter("cameras", value=[f"/{c}" for c in cameras]),
            Parameter("calibration_file", value=str(calibration)),
            Parameter("publish_rate", value=sim_node.get_parameter("render_rate").value),
        ]
    )
    driver = DemoDriver(cameras)
    nodes = [sim_node, labeling_node, driver]
    if policy is not None:
        nodes.append(
            PolicyNode(
                policy,
                parameter_overrides=[
                    Parameter("use_sim_time", value=True),
                    Parameter("urdf", value=str(URDF_PATH)),
                    Parameter("cameras", value=[f"/{c}" for c in cameras]),
                    Parameter("calibration_file", value=str(calibration)),
                    Parameter("enable_control", value=True),
                    Parameter("chunk_merge", value=args.chunk_merge),
                ],
            )
        )
    # One executor and thread per node: a slow callback of one (the labeling node's drawing,
    # the policy's control tick) must not delay another's joint states, camera frames or
    # clock, as it did with one shared executor (joint states judged 0.2-0.6 s late).
    executors = [SingleThreadedExecutor() for _ in nodes]
    spinners = []
    for node, executor in zip(nodes, executors, strict=True):
        executor.add_node(node)
        spinners.append(
            threading.Thread(target=executor.spin, name=f"spin {node.get_name()}", daemon=True)
        )
        spinners[-1].start()
    try:
        while driver.joint_state is None:
            time.sleep(0.05)
        seeds = range(args.first_seed, args.first_seed + args.episodes)
        episodes = [(t, s) for t in args.tasks for s in seeds]
        tell_task = policy is not None and policy.policy.knows_tasks
        records = [
            run_policy_episode(driver, task, seed, tell_task, args.max_duration)
            if policy
            else run_episode(sim_node, driver, task, seed)
            for task, seed in tqdm(episodes, desc="demo episodes", unit="episode")
        ]
        fps = sim_node.get_parameter("render_rate").value
        latencies = policy.latencies if policy else None
        summary = write_report(records, args.out, fps, driver_name, latencies)
    finally:
        for executor in executors:
            executor.shutdown()
        for spinner in spinners:
            spinner.join(timeout=10.0)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    for task, result in summary.items():
        print(f"{task}: {result['success_rate']:.0%} success over {result['episodes']} episodes")
    print(f"report, videos and plots in {args.out}/")


if __name__ == "__main__":
    main()
