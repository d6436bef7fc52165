"""The policy node: synchronized cameras in, a safe joint trajectory out.

Subscribes to `<camera>/image_raw` (sensor_msgs/Image) or `<camera>/image_raw/compressed`
(sensor_msgs/CompressedImage, jpeg or png) and `<camera>/camera_info` for every camera in
`cameras`, and to /joint_states. Camera extrinsics come from TF (`extrinsics_source: tf`, where
tf2_ros is installed) or from a calibration file; both answer the same question: the pose of
`<camera>_optical_frame` in `base_frame`.

An inference thread asks the synchronizer for the newest consistent camera set whenever the
queued plan runs short, runs the policy, and merges the chunk into the plan (receding horizon,
crossfaded, see core.chunk_execution). A control timer turns the next `horizon` seconds of the
plan into joint targets by IK, makes them safe (core.safety), and publishes them. Motion is
commanded only with `enable_control: true`; otherwise the trajectory goes to `preview_topic`.
A watchdog stops commanding when joint states or camera sets go stale or inference fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.core.chunk_execution import ActionQueue, ExecutionConfig
from action_images_ros.core.kinematics import SerialChain
from action_images_ros.core.policy import Observation, Policy
from action_images_ros.core.safety import (
    SafetyError,
    SafetyLimits,
    clamp_to_workspace,
    limit_joint_trajectory,
)
from action_images_ros.core.synchronizer import CameraSynchronizer
from action_images_ros.msg import ActionChunk as ActionChunkMsg
from action_images_ros.nodes.camera_intake import CameraIntake
from action_images_ros.nodes.conversions import (
    action_chunk_to_msg,
    duration_from_msg,
    joint_trajectory_to_msg,
    time_to_msg,
)
from action_images_ros.nodes.extrinsics import make_extrinsics_source
from action_images_ros.nodes.parameters import ARM_PARAMETERS, CAMERA_PARAMETERS
from action_images_ros.nodes.runtime import run_node
from action_images_ros.sim.scene import URDF_PATH


class PolicyNode(Node):
    """Runs a Policy in closed loop on a manipulator (see the module docstring)."""

    def __init__(self, policy: Policy | None = None, **node_options: object) -> None:
        super().__init__("policy", **node_options)
        p = self._declare_parameters()
        self.cameras: list[str] = list(p["cameras"])
        self.base_frame = p["base_frame"]
        self.joint_names: list[str] = list(p["joint_names"])
        self.horizon, self.watchdog_timeout = p["horizon"], p["watchdog_timeout"]
        self.enable_control = p["enable_control"]
        self.policy = policy if policy is not None else _load_policy(p)
        self.chain = SerialChain.from_urdf(p["urdf"] or URDF_PATH, p["base_link"], p["tip_link"])
        self.limits = SafetyLimits(
            lower=self.chain.lower,
            upper=self.chain.upper,
            max_velocity=self.chain.velocity_limits,
            workspace_min=np.asarray(p["workspace_min"]),
            workspace_max=np.asarray(p["workspace_max"]),
            position_margin=p["position_margin"],
            velocity_scale=p["velocity_scale"],
        )
        self.queue = ActionQueue(ExecutionConfig(p["blend_time"], p["replan_margin"]))
        self.sync = CameraSynchronizer(self.cameras, p["slop"], p["max_age"])
        self.extrinsics = make_extrinsics_source(
            self, p["extrinsics_source"], p["calibration_file"], self.base_frame
        )
        self._joint_state: JointState | None = None
        self._last_stamp: float | None = None
        self.gripper_joint, self.gripper_open_position = (
            p["gripper_joint"],
            p["gripper_open_position"],
        )
        self._lock = threading.Lock()
        self.status = "waiting for observations"
        self.failures, self.last_error = 0, ""

        self.intake = CameraIntake(self, self.cameras, p["image_transport"], self.sync, self._warn)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, 10)
        command_topic = p["controller_topic"] if self.enable_control else p["preview_topic"]
        self._trajectory = self.create_publisher(JointTrajectory, command_topic, 10)
        gripper_topic = (
            p["gripper_topic"] if self.enable_control else p["preview_topic"] + "_gripper"
        )
        self._gripper = self.create_publisher(Float64MultiArray, gripper_topic, 10)
        self._chunks = self.create_publisher(ActionChunkMsg, "~/action_chunk", 10)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0 / p["control_rate"], self._control)
        self.create_timer(1.0, self._publish_diagnostics)
        if not self.enable_control:
            self.get_logger().warning(
                f"dry run (enable_control false): commands go to {command_topic}"
            )
        self._running = True
        self._inference = threading.Thread(target=self._inference_loop, daemon=True)
        self._inference.start()

    def _declare_parameters(self) -> dict[str, object]:
        defaults = {
            **CAMERA_PARAMETERS,
            **ARM_PARAMETERS,
            "checkpoint": "",
            "device": "cpu",
            "task": "",
            "num_inference_steps": 10,
            "guidance_scale": 1.0,
            "seed": 0,
            "max_age": 0.5,
            "enable_control": False,
            "controller_topic": "/panda_arm_controller/joint_trajectory",
            "gripper_topic": "/gripper_controller/commands",
            "preview_topic": "~/preview/joint_trajectory",
            "control_rate": 5.0,
            "horizon": 1.0,
            "blend_time": 0.3,
            "replan_margin": 0.6,
            "position_margin": 0.05,
            "velocity_scale": 0.5,
            "workspace_min": [0.2, -0.6, 0.0],
            "workspace_max": [0.85, 0.6, 0.8],
            "watchdog_timeout": 1.0,
        }
        return {name: self.declare_parameter(name, value).value for name, value in defaults.items()}

    def reset(self) -> None:
        """Forget the current plan (a new episode or task): the next chunk starts afresh."""
        with self._lock:
            self.queue.clear()

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_joint_state(self, msg: JointState) -> None:
        with self._lock:
            self._joint_state = msg

    def _arm_positions(self) -> tuple[np.ndarray, float, float] | None:
        """Arm joint positions, their stamp, and the gripper openness (1 if not reported)."""
        with self._lock:
            msg = self._joint_state
        if msg is None:
            return None
        index = {name: i for i, name in enumerate(msg.name)}
        if any(name not in index for name in self.joint_names):
            self._warn(f"/joint_states lacks some of {self.joint_names}")
            return None
        q = np.array([msg.position[index[name]] for name in self.joint_names])
        gripper = 1.0
        if self.gripper_joint in index:
            opening = msg.position[index[self.gripper_joint]] / self.gripper_open_position
            gripper = float(np.clip(opening, 0.0, 1.0))
        return q, duration_from_msg(msg.header.stamp), gripper

    def _observe(self) -> Observation | None:
        synced = self.sync.latest(self.now(), newer_than=self._last_stamp)
        arm = self._arm_positions()
        if synced is None or arm is None:
            self.status = self.sync.last_failure if synced is None else "no joint states"
            return None
        images, intrinsics, extrinsics = [], [], []
        for rgb, k, frame_id in synced.frames:
            pose = self.extrinsics.lookup(frame_id, synced.stamp)
            if pose is None:
                self.status = self.extrinsics.why_not(frame_id)
                return None
            images.append(rgb)
            intrinsics.append(k)
            extrinsics.append(pose)
        q, _, gripper = arm
        ee_position, ee_quaternion = self.chain.forward_kinematics(q)
        self._last_stamp = synced.stamp
        return Observation(
            stamp=synced.stamp,
            images=np.stack(images),
            intrinsics=np.stack(intrinsics),
            extrinsics=np.stack(extrinsics),
            joint_positions=q,
            ee_position=ee_position,
            ee_quaternion=ee_quaternion,
            gripper_openness=gripper,
        )

    def _inference_loop(self) -> None:
        while self._running and self.context.ok():
            if not self.queue.needs_new_chunk(self.now()):
                time.sleep(0.01)
                continue
            observation = self._observe()
            if observation is None:
                time.sleep(0.02)
                continue
            started = time.monotonic()
            try:
                chunk = self.policy.predict(observation)
            except Exception as error:  # a failing model must not take the node down
                self.failures += 1
                self.status = self.last_error = f"inference failed: {error}"
                self.get_logger().error(self.status, throttle_duration_sec=2.0)
                self.queue.clear()
                continue
            with self._lock:
                kept = self.queue.merge(chunk, observation.stamp, self.now())
            self.status = (
                f"chunk of {len(chunk)} steps, {kept} kept, {time.monotonic() - started:.2f} s"
            )
            header = Header(stamp=time_to_msg(observation.stamp), frame_id=self.base_frame)
            self._chunks.publish(action_chunk_to_msg(chunk, header))

    def _control(self) -> None:
        now = self.now()
        arm = self._arm_positions()
        stale = arm is None or now - arm[1] > self.watchdog_timeout
        if stale:
            if self.queue.plan is not None:
                self.get_logger().error("watchdog: joint states are stale, stopping commands")
                self.queue.clear()
            return
        with self._lock:
            plan = self.queue.upcoming(now)
        if plan is None:
            return
        plan = plan.select(plan.times <= now + self.horizon)
        if len(plan) == 0:
            return
        try:
            targets, moved = clamp_to_workspace(plan.positions, self.limits)
            if moved:
                self._warn("targets outside the workspace were clamped into it")
            q, solutions = arm[0], []
            for position, quaternion in zip(targets, plan.quaternions, strict=True):
                result = self.chain.inverse_kinematics(position, quaternion, q, max_iterations=100)
                if not result.converged:
                    break
                q = result.q
                solutions.append(q)
            if not solutions:
                self._warn(f"IK found no solution for the target {np.round(targets[0], 3)}")
                return
            safe = limit_joint_trajectory(
                arm[0], np.stack(solutions), plan.times[: len(solutions)] - now, self.limits
            )
        except SafetyError as error:
            self._warn(f"command refused: {error}")
            return
        self._trajectory.publish(
            joint_trajectory_to_msg(self.joint_names, safe.positions, safe.times, safe.velocities)
        )
        self._gripper.publish(Float64MultiArray(data=[float(plan.gripper[0])]))

    def _warn(self, message: str) -> None:
        self.status = self.last_error = message
        self.get_logger().warning(message, throttle_duration_sec=2.0)

    def _publish_diagnostics(self) -> None:
        level = DiagnosticStatus.WARN if self.failures or self.last_error else DiagnosticStatus.OK
        message = self.status
        if self.last_error and self.last_error != self.status:
            message += f" (last error: {self.last_error})"
        status = DiagnosticStatus(level=level, name="action_images_ros/policy", message=message)
        self._diagnostics.publish(DiagnosticArray(status=[status]))

    def destroy_node(self) -> None:
        self._running = False
        self._inference.join(timeout=5.0)
        super().destroy_node()


def _load_policy(p: dict[str, object]) -> Policy:
    if not p["checkpoint"]:
        raise ValueError("parameter 'checkpoint' must name a model directory")
    from action_images_ros.model.policy import VideoActionPolicy  # torch models only here

    try:
        return VideoActionPolicy.from_pretrained(
            p["checkpoint"], device=p["device"], task=p["task"],
            num_inference_steps=p["num_inference_steps"], guidance_scale=p["guidance_scale"],
            seed=p["seed"],
        )  # fmt: skip
    except OSError as error:
        raise ValueError(f"cannot load a model from '{p['checkpoint']}': {error}") from error


def main(args: list[str] | None = None) -> None:
    make: Callable[[], Node] = PolicyNode
    run_node(make, args)


if __name__ == "__main__":
    main()
