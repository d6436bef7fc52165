"""The simulated Panda behind the interfaces of a real robot driven by ros2_control.

Publishes, stamped with simulated time (and /clock for nodes with use_sim_time):
  /<camera>/image_raw, /<camera>/camera_info   one stamp per rendered set (sensor-data QoS)
  /joint_states                                 arm and finger joints
  /tf, /tf_static                               base -> tcp, base -> camera optical frames
                                                (where tf2_msgs is installed)
  /robot_description                            std_msgs/String, the URDF text, latched
                                                (transient local), as robot_state_publisher
  ~/task_success                                std_msgs/Bool, whether the task is solved
  ~/task_progress                               action_images_ros/TaskProgress: task, seed,
                                                success and Task.measure (how close it is)
Subscribes:
  <controller_topic>  trajectory_msgs/JointTrajectory, joint_trajectory_controller semantics:
                      every joint named, time_from_start relative, a zero stamp starts now,
                      a new trajectory replaces the old one, splined from the controller's
                      desired state; a rejected one (bad fields, or a motion beyond the Panda's
                      velocity, acceleration or jerk limits at 1 kHz) is logged with its
                      reason and the active motion (or the hold) goes on
  <gripper_topic>     std_msgs/Float64MultiArray [openness], 0 closed .. 1 open
Services:
  ~/reset             std_srvs/Trigger (/sim/reset): a new episode of the parameters `task` and
                      `seed` (both settable at runtime), after which `seed` advances by one
Writes the camera calibration (K, size, T_base_camera) to `calibration_file` at start.
Exits promptly on SIGINT/SIGTERM: the stepping thread checks a stop event at every step and
sleeps on it, and destroy_node joins it before the publishers go.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import yaml
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, Header, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg

from action_images_ros.core.robot_assets import BASE_FRAME, TCP_FRAME, optical_frame
from action_images_ros.msg import TaskProgress
from action_images_ros.nodes.conversions import (
    camera_info_to_msg,
    duration_from_msg,
    time_to_msg,
    transform_to_msg,
)
from action_images_ros.nodes.image_conversions import rgb_to_image
from action_images_ros.nodes.parameters import SIM_PARAMETERS
from action_images_ros.nodes.robot_model import LATCHED, ROBOT_DESCRIPTION_TOPIC
from action_images_ros.nodes.runtime import GuardedPublishing, declare_parameters, run_node
from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.scene import URDF_PATH, SceneConfig, default_cameras
from action_images_ros.sim.tasks import TASKS, make_task
from action_images_ros.sim.trajectory_controller import TrajectoryGoal, TrajectoryPoint

try:  # tf2_msgs comes with a ROS distribution; the PyPI wheels do not provide it.
    from tf2_msgs.msg import TFMessage
except ImportError:  # pragma: no cover - depends on the installation
    TFMessage = None


def trajectory_from_msg(msg: JointTrajectoryMsg, episode_start: float = 0.0) -> TrajectoryGoal:
    """A trajectory_msgs/JointTrajectory as the controller's message-free trajectory (its
    stamp on the episode's clock: ROS time minus `episode_start`)."""
    stamp = duration_from_msg(msg.header.stamp)
    stamp = stamp - episode_start if stamp else 0.0
    return TrajectoryGoal(
        joint_names=list(msg.joint_names),
        points=[
            TrajectoryPoint(
                positions=list(p.positions),
                time_from_start=duration_from_msg(p.time_from_start),
                velocities=list(p.velocities),
                accelerations=list(p.accelerations),
            )
            for p in msg.points
        ],
        start_time=stamp or None,
    )


class SimNode(Node):
    """Steps the MuJoCo Panda in its own thread, in real time or faster, and publishes it."""

    def __init__(self, **node_options: object) -> None:
        super().__init__("sim", **node_options)
        p = declare_parameters(self, SIM_PARAMETERS)
        if p["task"] not in TASKS:
            raise ValueError(f"parameter 'task' must be one of {sorted(TASKS)}, got {p['task']!r}")
        urdf = Path(p["urdf"] or URDF_PATH)
        if not urdf.is_file():
            raise ValueError(f"parameter 'urdf': no file {urdf}")
        param = self.get_parameter

        self.sim = PandaSim(self._scene_config())
        self.lock = threading.Lock()  # held while the sim thread steps the simulation
        self.episode_start = 0.0  # ROS time (s) of the current episode's sim time 0
        self.real_time_factor = float(p["real_time_factor"])
        self.render_period = 1.0 / float(p["render_rate"])
        self.state_period = 1.0 / float(p["state_rate"])
        self.start_episode(p["task"], p["seed"])
        self._advance_seed = True
        self.sim.write_calibration(p["calibration_file"])
        self._guard = GuardedPublishing(self)
        self._stop = threading.Event()

        self._images, self._infos = {}, {}
        for camera in self.sim.cameras:
            self._images[camera.name] = self.create_publisher(
                Image, f"/{camera.name}/image_raw", qos_profile_sensor_data
            )
            self._infos[camera.name] = self.create_publisher(
                CameraInfo, f"/{camera.name}/camera_info", qos_profile_sensor_data
            )
        self._joint_states = self.create_publisher(JointState, "/joint_states", 10)
        self._clock_publisher = self.create_publisher(Clock, "/clock", 10)
        self._success = self.create_publisher(Bool, "~/task_success", 10)
        self._progress = self.create_publisher(TaskProgress, "~/task_progress", 10)
        self._description = self.create_publisher(String, ROBOT_DESCRIPTION_TOPIC, LATCHED)
        self._description.publish(String(data=urdf.read_text()))
        self._tf = self._tf_static = None
        if TFMessage is not None:
            latched = QoSProfile(depth=1, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
            self._tf = self.create_publisher(TFMessage, "/tf", 10)
            self._tf_static = self.create_publisher(TFMessage, "/tf_static", latched)
            self._publish_static_transforms()
        else:
            self.get_logger().warning(
                "tf2_msgs is not installed: no /tf; camera extrinsics are in "
                f"{param('calibration_file').value}"
            )

        self.create_subscription(
            JointTrajectoryMsg, param("controller_topic").value, self._on_trajectory, 10
        )
        self.create_subscription(
            Float64MultiArray, param("gripper_topic").value, self._on_gripper, 10
        )
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.add_on_set_parameters_callback(self._on_parameters)
        self._thread = threading.Thread(target=self._run, name="sim", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"ready: {self.task.name} seed {self.seed}, cameras "
            f"{[c.name for c in self.sim.cameras]}, reset with {self.get_name()}/reset"
        )

    def _scene_config(self) -> SceneConfig:
        path = self.get_parameter("scene_config").value
        if path:
            with open(path) as stream:
                return SceneConfig.from_dict(yaml.safe_load(stream))
        width = self.get_parameter("image_width").value
        height = self.get_parameter("image_height").value
        return SceneConfig(cameras=default_cameras(width, height))

    def _on_trajectory(self, msg: JointTrajectoryMsg) -> None:
        with self.lock:
            outcome = self.sim.send_trajectory(trajectory_from_msg(msg, self.episode_start))
        if not outcome.accepted:
            self.get_logger().error(f"trajectory rejected, holding still: {outcome.reason}")

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != 1 or not np.isfinite(msg.data[0]):
            self.get_logger().error(f"gripper command must be one finite value, got {msg.data}")
            return
        with self.lock:
            self.sim.set_gripper(float(msg.data[0]))

    def start_episode(self, task: str, seed: int) -> None:
        """Reset the simulation to a new episode of `task` randomized from `seed`."""
        with self.lock:
            # ROS time goes on across episodes (consumers drop data stamped in the past): the
            # new episode's sim time 0 is the next step after the last one published.
            self.episode_start += self.sim.time + self.state_period
            self.task, self.seed = make_task(task), seed
            self.task.reset(self.sim, seed)

    def _on_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "task" and parameter.value not in TASKS:
                reason = f"unknown task {parameter.value!r} (known: {', '.join(sorted(TASKS))})"
                return SetParametersResult(successful=False, reason=reason)
            if parameter.name == "real_time_factor":
                self.real_time_factor = float(parameter.value)
        return SetParametersResult(successful=True)

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        task, seed = self.get_parameter("task").value, int(self.get_parameter("seed").value)
        self.start_episode(task, seed)
        self.set_parameters([Parameter("seed", value=seed + 1)])  # the next reset: next seed
        response.success, response.message = True, f"{task} seed {seed}"
        return response

    def _run(self) -> None:
        """Step, publish, and pace the simulation against the wall clock, until shutdown.

        The renderers' GL contexts belong to this thread, so it also frees them.
        """
        try:
            self._step_and_publish()
        except Exception:
            if self._guard.running:
                raise
        finally:
            self.sim.close()

    def _step_and_publish(self) -> None:
        wall_start, sim_start = time.monotonic(), self.sim.time
        next_render = next_state = now = 0.0
        while not self._stop.is_set() and self._guard.running:
            with self.lock:
                if self.sim.time < now:  # reset: pace the new episode from here (a reset to the
                    # starting time, 0, must restart the pacing too, or the sim races ahead)
                    wall_start, sim_start = time.monotonic(), self.sim.time
                    next_render = next_state = 0.0
                self.sim.step(self.state_period)
                now = self.sim.time
                stamp = time_to_msg(self.episode_start + now)
                self._guard.publish(self._clock_publisher, Clock(clock=stamp))
                if now + 1e-9 >= next_state:
                    self._publish_state(stamp)
                    next_state = now + self.state_period
                if now + 1e-9 >= next_render:
                    self._publish_cameras(stamp)
                    self._publish_progress(stamp)
                    next_render = now + self.render_period
            rate = self.real_time_factor
            if rate > 0:
                due = wall_start + (now - sim_start) / rate
                # At most one step's wall time: a changed real_time_factor applies at once.
                self._stop.wait(min(max(0.0, due - time.monotonic()), self.state_period / rate))
            else:  # as fast as possible, but let commands and resets take the lock
                self._stop.wait(1e-4)

    def _publish_progress(self, stamp: object) -> None:
        success = bool(self.task.success(self.sim))
        measure = self.task.measure(self.sim)
        self._guard.publish(self._success, Bool(data=success))
        progress = TaskProgress(
            header=Header(stamp=stamp, frame_id=BASE_FRAME),
            task=self.task.name,
            seed=int(self.seed),
            success=success,
            measure_names=list(measure),
            measure_values=[float(v) for v in measure.values()],
        )
        self._guard.publish(self._progress, progress)

    def _publish_state(self, stamp: object) -> None:
        names, positions, velocities = self.sim.joint_state()
        self._guard.publish(
            self._joint_states,
            JointState(
                header=Header(stamp=stamp),
                name=names,
                position=positions.tolist(),
                velocity=velocities.tolist(),
            ),
        )
        if self._tf is not None:
            pose = self.sim.ee_transform()
            self._guard.publish(
                self._tf,
                TFMessage(transforms=[transform_to_msg(pose, BASE_FRAME, TCP_FRAME, stamp)]),
            )

    def _publish_cameras(self, stamp: object) -> None:
        for name, rgb in self.sim.render().items():
            header = Header(stamp=stamp, frame_id=optical_frame(name))
            height, width, _ = rgb.shape
            self._guard.publish(self._images[name], rgb_to_image(rgb, header))
            k = self.sim.camera_intrinsics(name)
            self._guard.publish(self._infos[name], camera_info_to_msg(k, width, height, header))

    def _publish_static_transforms(self) -> None:
        stamp = time_to_msg(self.episode_start + self.sim.time)
        transforms = [
            transform_to_msg(
                self.sim.camera_extrinsics(c.name), BASE_FRAME, optical_frame(c.name), stamp
            )
            for c in self.sim.cameras
        ]
        self._tf_static.publish(TFMessage(transforms=transforms))

    def destroy_node(self) -> None:
        """Stop and join the stepping thread (it frees the renderers) before the publishers go."""
        self._guard.stop()
        self._stop.set()
        self._thread.join(timeout=1.5)
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(SimNode, args)


if __name__ == "__main__":
    main()
