"""The policy node: synchronized cameras in, a safe joint trajectory out.

Subscribes to `<camera>/image_raw` (sensor_msgs/Image) or `<camera>/image_raw/compressed`
(sensor_msgs/CompressedImage, jpeg or png) and `<camera>/camera_info` for every camera in
`cameras`, and to /joint_states. Camera extrinsics come from TF (`extrinsics_source: tf`, where
tf2_ros is installed) or from a calibration file. The robot model comes from
`robot_description`, `urdf` or the latched /robot_description (see nodes.robot_model).

An inference thread asks the synchronizer for the newest consistent camera set whenever the
queued plan runs short, pairs it with the joint state nearest its stamp, runs the policy, checks
the chunk (core.chunk_checks) and merges it into the plan (core.chunk_execution). A control
timer turns the next `horizon` seconds of the plan into joint targets by IK (where IK fails
mid-plan, only the solved prefix is commanded), makes them safe from the arm's current state
(core.safety) and publishes them: to `controller_topic` when enabled, else to `preview_topic`.
Each trajectory is stamped with the tick's time and keeps the motion already commanded for
`command_lead` s (its knots, which the controller reproduces exactly from wherever it is when
the message arrives), then continues from that motion's state: so the spline the controller
executes is the one the safety layer verified, however late the message arrives within
`command_lead`. A watchdog timer (`watchdog_rate`) holds the arm as soon as a stream stops.
When joint states or a camera stream stop, or arrive stamped in the future, or a chunk is
refused, the node stops commanding and publishes one hold trajectory at the current position.

Services: `~/enable` (std_srvs/SetBool: commands to the controller, or dry run),
`~/set_task` (action_images_ros/SetTask), `~/reset` (std_srvs/Trigger: clears the plan and
restarts the noise sequence from `seed`). /diagnostics reports the state; an error older than
`error_age` s no longer keeps it at WARN.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.core.chunk_checks import chunk_problem
from action_images_ros.core.chunk_execution import ActionQueue, ExecutionConfig
from action_images_ros.core.joint_spline import JointSpline
from action_images_ros.core.kinematics import SerialChain
from action_images_ros.core.policy import Observation, Policy
from action_images_ros.core.safety import (
    SafeTrajectory,
    SafetyError,
    SafetyLimits,
    clamp_to_workspace,
    continuation_points,
    limit_joint_trajectory,
)
from action_images_ros.core.synchronizer import CameraSynchronizer
from action_images_ros.msg import ActionChunk as ActionChunkMsg
from action_images_ros.nodes.camera_intake import CameraIntake
from action_images_ros.nodes.conversions import (
    action_chunk_to_msg,
    joint_trajectory_to_msg,
    time_to_msg,
)
from action_images_ros.nodes.extrinsics import make_extrinsics_source
from action_images_ros.nodes.joint_state_intake import ArmState, JointStateIntake
from action_images_ros.nodes.parameters import POLICY_PARAMETERS
from action_images_ros.nodes.robot_model import robot_description
from action_images_ros.nodes.runtime import GuardedPublishing, declare_parameters, run_node
from action_images_ros.srv import SetTask

HOLD_TIME = 0.1  # seconds from start of the single point of a hold trajectory
# rad: within this of the commanded path, the arm is taken to track it (a new trajectory starts
# from the commanded state, as the controller does); beyond it, from the measured state.
TRACKING_TOLERANCE = 0.05
MIN_SEGMENT = 0.005  # s: the shortest segment a trajectory starts with


class PolicyNode(Node):
    """Runs a Policy in closed loop on a manipulator (see the module docstring)."""

    def __init__(
        self,
        policy: Policy | None = None,
        exit_wait: float | None = None,
        **node_options: object,
    ) -> None:
        """`exit_wait`: seconds destroy_node waits for an inference in progress (None: until it
        ends, as an in-process user such as the demo needs: the interpreter aborts if it exits
        while a thread is inside torch); the node process, which ends with os._exit, uses a
        short wait so that SIGTERM during a long inference still exits at once."""
        super().__init__("policy", **node_options)
        self._exit_wait = exit_wait
        p = self.p = declare_parameters(self, POLICY_PARAMETERS)
        self.cameras: list[str] = list(p["cameras"])
        self.base_frame = p["base_frame"]
        self.joint_names: list[str] = list(p["joint_names"])
        self.chain = SerialChain.from_urdf(
            robot_description(self, p), p["base_link"], p["tip_link"]
        )
        if self.chain.dof != len(self.joint_names):
            raise ValueError(
                f"the chain {p['base_link']} -> {p['tip_link']} has {self.chain.dof} joints but "
                f"joint_names lists {len(self.joint_names)}"
            )
        self.limits = _safety_limits(p, self.chain)
        self.policy = policy if policy is not None else _load_policy(p)
        if p["chunk_merge"] == "inpaint" and not getattr(self.policy, "accepts_given_actions", 0):
            raise ValueError(
                f"chunk_merge inpaint: the policy {type(self.policy).__name__} cannot continue "
                "from given actions; use chunk_merge crossfade"
            )
        self.queue = ActionQueue(
            ExecutionConfig(
                p["blend_time"],
                p["replan_margin"],
                merge=p["chunk_merge"],
                late_delay=1.0 / p["control_rate"],  # so that a control tick commands it
            )
        )
        self.latency = 0.0  # seconds an inference takes (running estimate): replanning, inpainting
        self.sync = CameraSynchronizer(
            self.cameras, p["slop"], p["max_age"], future_tolerance=p["future_tolerance"]
        )
        self.extrinsics = make_extrinsics_source(
            self, p["extrinsics_source"], p["calibration_file"], self.base_frame
        )
        self.arm = JointStateIntake(
            self.joint_names, p["gripper_joint"], p["gripper_open_position"], p["future_tolerance"]
        )
        self.enabled = bool(p["enable_control"])
        self._lock = threading.Lock()  # the plan, the command state
        # Serialises publishing commands with holds: a control tick that read the plan before a
        # hold (from the inference thread) must not publish its motion after that hold.
        self._command_lock = threading.Lock()
        self._holds = 0  # holds so far: a tick publishes only if none came since it read the plan
        # predict / set_task / reset of the policy (reentrant: the services take it before the
        # parameter callback they go through does)
        self._policy_lock = threading.RLock()
        self._policy_wanted = threading.Event()  # a service waits for the policy lock
        # a service held up the callbacks until then: judge the inputs once they are in
        self._inputs_pending_until: float | None = None
        self._generation = 0  # bumped by reset and set_task: a chunk in flight is discarded
        self._last_stamp: float | None = None
        self._commanding = False  # a motion trajectory was published since the last hold
        self._commanded: tuple[float, JointSpline] | None = None  # (start, spline) last sent
        self.status = "waiting for observations"
        self.failures, self.last_error, self._error_time = 0, "", -np.inf
        self.commands_published = 0

        self._guard = GuardedPublishing(self)
        self.intake = CameraIntake(
            self, self.cameras, p["image_transport"], self.sync, self._error, self._note
        )
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, 50)
        self._trajectory = {
            True: self.create_publisher(JointTrajectory, p["controller_topic"], 10),
            False: self.create_publisher(JointTrajectory, p["preview_topic"], 10),
        }
        self._gripper = {
            True: self.create_publisher(Float64MultiArray, p["gripper_topic"], 10),
            False: self.create_publisher(Float64MultiArray, p["preview_topic"] + "_gripper", 10),
        }
        self._chunks = self.create_publisher(ActionChunkMsg, "~/action_chunk", 10)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.create_service(SetTask, "~/set_task", self._on_set_task)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.add_on_set_parameters_callback(self._on_parameters)
        self._own_timers = [
            self.create_timer(1.0 / p["control_rate"], self._control),
            self.create_timer(1.0 / p["watchdog_rate"], self._watchdog),
            self.create_timer(1.0, self._publish_diagnostics),
        ]
        self.late_ticks = 0  # control ticks whose trajectory was ready too late to publish
        slowest = max(p["watchdog_timeout"], p["camera_timeout"]) + 1.0 / p["watchdog_rate"]
        if slowest > 2.0 / p["control_rate"]:
            self.get_logger().warning(
                f"a stopped stream holds the arm only after {slowest:.2f} s (watchdog or camera "
                f"timeout + 1/watchdog_rate), more than two control periods "
                f"({2.0 / p['control_rate']:.2f} s)"
            )
        if not self.enabled:
            self.get_logger().warning(
                f"dry run: commands go to {self._trajectory[False].topic_name}; call "
                f"{self.get_name()}/enable to command {p['controller_topic']}"
            )
        # A daemon: a long inference (seconds on a big model) must not hold up a process exit;
        # once destroy_node stops the guard it can no longer publish anything.
        self._inference = threading.Thread(
            target=self._inference_loop, name="inference", daemon=True
        )
        self._inference.start()
        self.get_logger().info(f"ready: cameras {self.cameras}, joints {self.joint_names}")

    # -- services and runtime parameters ------------------------------------------------

    def _on_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "task":
                error = self._apply_task(parameter.value)
                if error:
                    return SetParametersResult(successful=False, reason=error)
            elif parameter.name == "enable_control":
                self._apply_enable(bool(parameter.value))
        return SetParametersResult(successful=True)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.set_parameters([Parameter("enable_control", value=bool(request.data))])
        topic = self._trajectory[self.enabled].topic_name
        response.success = True
        response.message = f"{'enabled' if self.enabled else 'dry run'}: commands go to {topic}"
        return response

    def _apply_enable(self, enable: bool) -> None:
        if enable == self.enabled:
            return
        if not enable:  # stop the arm before the commands go to the preview
            self._hold("control disabled")
        with self._lock:
            self.enabled = enable
            self.queue.clear()  # a plan made during the dry run starts afresh
            self._commanded = None  # the preview was never executed: continue from the arm
        self.get_logger().warning(
            f"{'enabled' if enable else 'dry run'}: commands go to "
            f"{self._trajectory[enable].topic_name}"
        )

    def _on_set_task(
        self, request: SetTask.Request, response: SetTask.Response
    ) -> SetTask.Response:
        with self._policy_free():
            result = self.set_parameters([Parameter("task", value=request.task)])[0]
        response.success = result.successful
        response.message = f"task {request.task!r}" if result.successful else result.reason
        return response

    @contextlib.contextmanager
    def _policy_free(self) -> Iterator[None]:
        """Hold the policy lock for a service, waiting for an inference in progress (the
        inference thread starts no new one meanwhile). The wait holds up this node's other
        callbacks, so the watchdog judges the inputs only once the joint states queued meanwhile
        come in (a fresh one; at the latest after the wait's length + watchdog_timeout), not
        from the state before the wait."""
        self._policy_wanted.set()
        began = time.monotonic()
        try:
            with self._policy_lock:
                yield
        finally:
            self._policy_wanted.clear()
            ended = time.monotonic()  # the backlog takes about as long to drain as it grew
            self._inputs_pending_until = ended + (ended - began) + self.p["watchdog_timeout"]

    def _apply_task(self, task: str) -> str:
        """Condition the policy on `task` and clear the plan; returns why not, or ''."""
        set_task = getattr(self.policy, "set_task", None)
        if set_task is None:
            return f"{type(self.policy).__name__} takes no task"
        with self._policy_lock:
            try:
                set_task(task)
            except ValueError as error:
                return str(error)
        self.reset()
        return ""

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        seed = int(self.get_parameter("seed").value)
        restarted = hasattr(self.policy, "reset")
        with self._policy_free():
            if restarted:
                self.policy.reset(seed)
            self.reset()
        response.success = True
        response.message = "plan cleared" + (
            f", noise restarted from seed {seed}" if restarted else ""
        )
        return response

    def reset(self) -> None:
        """Forget the current plan (a new episode or task): the next chunk starts afresh."""
        with self._lock:
            self._generation += 1
            self.queue.clear()
            self._last_stamp = None

    # -- inputs ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_joint_state(self, msg: JointState) -> None:
        now = self.now()
        if now == 0.0:  # use_sim_time and no /clock yet: stamps cannot be judged
            self.status = "waiting for the clock"
            return
        refused = self.arm.add(msg, now)
        if self.arm.fresh(now, self.p["watchdog_timeout"])[0] is not None:
            self._inputs_pending_until = None  # the backlog of a service's wait is in
        if refused:
            self._error(f"refused a joint state: {refused}")

    def _observe(self, now: float) -> Observation | None:
        synced = self.sync.latest(now, newer_than=self._last_stamp)
        if synced is None:
            self.status = self.sync.last_failure
            return None
        state = self.arm.nearest(synced.stamp)
        if state is None or abs(state.stamp - synced.stamp) > self.p["watchdog_timeout"]:
            self.status = f"no joint state near the camera set at {synced.stamp:.3f} s"
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
        ee_position, ee_quaternion = self.chain.forward_kinematics(state.positions)
        self._last_stamp = synced.stamp
        return Observation(
            stamp=synced.stamp,
            images=np.stack(images),
            intrinsics=np.stack(intrinsics),
            extrinsics=np.stack(extrinsics),
            joint_positions=state.positions,
            ee_position=ee_position,
            ee_quaternion=ee_quaternion,
            gripper_openness=state.gripper,
        )

    # -- inference --------------------------------------------------------------------------

    def _inference_loop(self) -> None:
        """Never dies: every failure is counted, reported, and the loop goes on."""
        while self._guard.running:
            try:
                busy = self._infer_once()
            except Exception as error:  # a failing model or bad data must not stop the node
                self.failures += 1
                self._error(f"inference failed: {type(error).__name__}: {error}")
                self._hold("inference failed")
                busy = False
            if not busy:
                time.sleep(0.02)

    def _infer_once(self) -> bool:
        """One chunk, if the plan needs one and an observation is ready; True if it ran."""
        now = self.now()
        if (
            now == 0.0
            or self._policy_wanted.is_set()
            or not self.queue.needs_new_chunk(now, self.latency)
        ):
            return False
        if self.arm.fresh(now, self.p["watchdog_timeout"])[0] is None:
            return False
        observation = self._observe(now)
        if observation is None:
            return False
        if self.queue.config.merge == "inpaint":  # continue from what executes meanwhile
            with self._lock:
                given = self.queue.given_actions(
                    observation.stamp, now + self.latency, self.policy.frame_interval
                )
            observation = dataclasses.replace(observation, given_actions=given)
        generation = self._generation
        started = time.monotonic()
        with self._policy_lock:
            chunk = self.policy.predict(observation)
        took = time.monotonic() - started
        self.latency = took if self.latency == 0.0 else 0.7 * self.latency + 0.3 * took
        header = Header(stamp=time_to_msg(observation.stamp), frame_id=self.base_frame)
        self._guard.publish(self._chunks, action_chunk_to_msg(chunk, header))  # what it predicted
        problem = chunk_problem(
            chunk,
            observation.ee_position,
            self.p["max_tcp_speed"],
            self.p["max_gripper_switches"],
        )
        if problem:
            self.failures += 1
            self._error(f"refused a chunk: {problem}")
            self._hold("chunk refused")
            return True
        with self._lock:
            if generation != self._generation:
                return True  # reset or re-tasked meanwhile: this chunk is for the old episode
            now = self.now()
            late = self.queue.late_chunks
            kept = self.queue.merge(chunk, observation.stamp, now)
            retimed = self.queue.late_chunks > late
        self.status = f"chunk of {len(chunk)} steps, {kept} kept, {took:.2f} s" + (
            " (all due on arrival: its last target retimed to the next step)" if retimed else ""
        )
        return True

    # -- commands ---------------------------------------------------------------------------

    def _inputs_fresh(self, now: float) -> ArmState | None:
        """The arm state if joint states and every camera are fresh at `now`; else hold (when
        commanding) and None. None without judging right after a service held up the
        callbacks (see _policy_free)."""
        if self._inputs_pending_until is not None:
            if time.monotonic() < self._inputs_pending_until:
                return None
            self._inputs_pending_until = None
        state, why = self.arm.fresh(now, self.p["watchdog_timeout"])
        if state is None:
            self._stop(why)
            return None
        stalled = self.sync.stalled(now, self.p["camera_timeout"])
        if stalled:
            self._stop(f"no frames from {', '.join(stalled)} for {self.p['camera_timeout']} s")
            return None
        return state

    def _watchdog(self) -> None:
        """Hold as soon as a stream stops, not only at the next control tick."""
        now = self.now()
        if now != 0.0:
            self._inputs_fresh(now)

    def _control(self) -> None:
        now = self.now()
        if now == 0.0:
            return
        state = self._inputs_fresh(now)
        if state is None:
            return
        start_at = now + self.p["command_lead"]
        with self._lock:
            plan = self.queue.upcoming(now)
            enabled, holds = self.enabled, self._holds
            commanded = self._commanded
        if plan is None:
            return
        if commanded is not None and commanded[0] > now:
            return  # the last trajectory has not taken over yet (a tick within command_lead)
        plan = plan.select(
            (plan.times > start_at + MIN_SEGMENT) & (plan.times <= now + self.p["horizon"])
        )
        if len(plan) == 0:
            return
        try:
            targets, moved = clamp_to_workspace(plan.positions, self.limits)
            if moved:
                self._error("targets outside the workspace were clamped into it")
            q, solutions = state.positions, []
            for position, quaternion in zip(targets, plan.quaternions, strict=True):
                result = self.chain.inverse_kinematics(position, quaternion, q, max_iterations=100)
                if not result.converged:
                    break
                q = result.q
                solutions.append(q)
            if not solutions:
                self._error(f"IK found no solution for the target {np.round(targets[0], 3)}")
                self._hold("IK failed")
                return
            if len(solutions) < len(plan):
                self._error(
                    f"IK failed at step {len(solutions) + 1} of {len(plan)} "
                    f"(target {np.round(targets[len(solutions)], 3)}): commanding the "
                    f"{len(solutions)} solved steps, ending at rest"
                )
            safe = limit_joint_trajectory(
                positions=np.stack(solutions),
                times=plan.times[: len(solutions)] - start_at,
                limits=self.limits,
                **self._start_state(state, start_at),
            )
        except SafetyError as error:
            self._error(f"command refused: {error}")
            self._hold("command refused")
            return
        with self._command_lock:
            if holds != self._holds:  # held while this tick computed: its plan is gone
                return
            if self.now() > start_at - MIN_SEGMENT:  # the controller would skip the bridge
                self.late_ticks += 1
                self._error(
                    f"a trajectory was ready after its start (command_lead "
                    f"{self.p['command_lead']} s is too short): skipped, the last one goes on"
                )
                return
            if self._publish_trajectory(safe, enabled, now, start_at):
                self._guard.publish(
                    self._gripper[enabled], Float64MultiArray(data=[float(plan.gripper[0])])
                )
                with self._lock:
                    self._commanding = True
                self.commands_published += 1

    def _start_state(self, state: ArmState, at: float) -> dict[str, np.ndarray]:
        """Where the controller will be at time `at`, for the safety layer to verify the new
        motion from there. With `controller_open_loop` (JTC's open_loop_control, the sim) and
        the arm tracking the trajectory last commanded: that trajectory's state at `at`
        (position, velocity, acceleration). Otherwise (JTC's default, nothing commanded yet,
        or the arm off the commanded path) the measured state, moved on at its velocity to
        `at` (where the arm will be when the new motion takes over)."""
        with self._lock:
            commanded = self._commanded
        if commanded is not None and self.p["controller_open_loop"]:
            start, spline = commanded
            tracked = spline.evaluate(state.stamp - start)[0]
            if np.max(np.abs(tracked - state.positions)) <= TRACKING_TOLERANCE:
                q, dq, ddq = (np.asarray(a, dtype=np.float64) for a in spline.evaluate(at - start))
                return {"current": q, "current_velocity": dq, "current_acceleration": ddq}
        if state.velocities is None:
            return {"current": state.positions}
        ahead = state.positions + state.velocities * max(at - state.stamp, 0.0)
        return {"current": ahead, "current_velocity": state.velocities}

    def _continuing(self, start_at: float, start_position: np.ndarray) -> tuple | None:
        """The commanded (start, spline) if the new motion starts on it at `start_at` (see
        _start_state), for continuation_points to keep it until then; else None."""
        with self._lock:
            commanded = self._commanded
        if commanded is None or not self.p["controller_open_loop"]:
            return None
        start, spline = commanded
        if not np.array_equal(spline.evaluate(start_at - start)[0], start_position):
            return None  # the new motion starts from the measured state
        return commanded

    def _publish_trajectory(
        self, safe: SafeTrajectory, enabled: bool, now: float, start_at: float
    ) -> bool:
        """Publish, stamped `now`, the motion commanded until `start_at` and then `safe`
        (core.safety.continuation_points: positions, velocities and accelerations, which JTC
        interpolates quintically, the spline the safety layer verified), and remember it to
        continue from."""
        times, positions, velocities, accelerations = continuation_points(
            safe, now, start_at, self._continuing(start_at, safe.start_position)
        )
        msg = joint_trajectory_to_msg(
            self.joint_names,
            positions,
            times,
            velocities,
            header=Header(stamp=time_to_msg(now)),
            accelerations=accelerations,
        )
        if not self._guard.publish(self._trajectory[enabled], msg):
            return False
        with self._lock:
            self._commanded = (start_at, safe.spline())
        return True

    def _stop(self, why: str) -> None:
        """Inputs are missing or stale: hold if the arm was being commanded, else just wait."""
        with self._lock:
            active = self._commanding or self.queue.plan is not None
        if active:
            self._error(f"stopping: {why}")
            self._hold(why)
        else:
            self.status = why

    def _hold(self, why: str) -> None:
        """Clear the plan and, if motion was commanded, publish one trajectory that holds the arm
        at its last known position (decelerating within the limits when it is moving)."""
        with self._command_lock:
            with self._lock:
                self.queue.clear()
                was_commanding, self._commanding = self._commanding, False
                enabled = self.enabled
                self._holds += 1
            state = self.arm.latest()
            if not was_commanding or state is None:
                return
            now = self.now()
            start_at = now + self.p["command_lead"]
            try:
                start = self._start_state(state, start_at)
                safe = limit_joint_trajectory(
                    positions=start["current"][None],
                    times=np.array([HOLD_TIME]),
                    limits=self.limits,
                    **start,
                )
            except SafetyError as error:
                self.get_logger().error(f"cannot hold ({why}): {error}")
                return
            self._publish_trajectory(safe, enabled, now, start_at)
        self.get_logger().warning(f"holding the arm: {why}")

    # -- status -----------------------------------------------------------------------------

    def _note(self, message: str) -> None:
        """A transient state (waiting for data): shown in /diagnostics, not an error."""
        self.status = message

    def _error(self, message: str) -> None:
        self.status = self.last_error = message
        self._error_time = time.monotonic()
        self.get_logger().error(message, throttle_duration_sec=2.0)

    def _publish_diagnostics(self) -> None:
        recent = time.monotonic() - self._error_time <= self.p["error_age"]
        level = DiagnosticStatus.WARN if recent else DiagnosticStatus.OK
        message = self.status
        if recent and self.last_error != self.status:
            message += (
                f" (error {time.monotonic() - self._error_time:.1f} s ago: {self.last_error})"
            )
        status = DiagnosticStatus(level=level, name="action_images_ros/policy", message=message)
        self._guard.publish(self._diagnostics, DiagnosticArray(status=[status]))

    def destroy_node(self) -> None:
        """Stop the inference thread and the timers before the publishers go."""
        self._guard.stop()
        for timer in self._own_timers:
            timer.cancel()
        if self._inference is not threading.current_thread():
            self._inference.join(timeout=self._exit_wait)
        super().destroy_node()


def _safety_limits(p: dict[str, object], chain: SerialChain) -> SafetyLimits:
    """The configured limits: positions and velocities from the URDF, accelerations and jerks
    from the parameters (one per joint), the workspace box."""
    joints = chain.dof
    for key in ("joint_acceleration_limits", "joint_jerk_limits"):
        if len(p[key]) != joints:
            raise ValueError(f"parameter '{key}' has {len(p[key])} values, the arm {joints} joints")
    try:
        return SafetyLimits(
            lower=chain.lower,
            upper=chain.upper,
            max_velocity=chain.velocity_limits,
            workspace_min=np.asarray(p["workspace_min"]),
            workspace_max=np.asarray(p["workspace_max"]),
            position_margin=p["position_margin"],
            velocity_scale=p["velocity_scale"],
            max_acceleration=np.asarray(p["joint_acceleration_limits"], dtype=np.float64),
            max_jerk=np.asarray(p["joint_jerk_limits"], dtype=np.float64),
            acceleration_scale=p["acceleration_scale"],
            jerk_scale=p["jerk_scale"],
        )
    except SafetyError as error:  # names the limit that is wrong
        raise ValueError(f"safety limits: {error}") from error


def _load_policy(p: dict[str, object]) -> Policy:
    if not p["checkpoint"]:
        raise ValueError("parameter 'checkpoint' must name a model directory")
    from action_images_ros.model.policy import VideoActionPolicy  # torch models only here

    try:
        return VideoActionPolicy.from_pretrained(
            p["checkpoint"],
            device=p["device"],
            task=p["task"],
            num_inference_steps=p["num_inference_steps"],
            guidance_scale=p["guidance_scale"],
            seed=p["seed"],
        )
    except OSError as error:
        raise ValueError(f"cannot load a model from '{p['checkpoint']}': {error}") from error


def main(args: list[str] | None = None) -> None:
    run_node(lambda: PolicyNode(exit_wait=1.5), args)


if __name__ == "__main__":
    main()
