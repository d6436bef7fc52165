"""Every node parameter in one table per node: name -> default, description, range, read-only.

The nodes declare exactly these (runtime.declare_parameters turns each Setting into a
ParameterDescriptor), config/*.yaml lists them with the same values (test_config_files checks
that), and the docs are the descriptions. A parameter is read-only unless the node applies a
change while it runs; changing the cameras, the robot model or the checkpoint of a running node
would be unsafe or silently ignored, so those are fixed at start. No ROS imports here, so the
tables can be read without a ROS installation.
"""

from __future__ import annotations

from dataclasses import dataclass

from action_images_ros.core.chunk_execution import MERGE_MODES
from action_images_ros.core.robot_assets import ARM_JOINTS, PANDA_MAX_ACCELERATION, PANDA_MAX_JERK

PANDA_JOINTS = list(ARM_JOINTS)


@dataclass(frozen=True)
class Setting:
    """One parameter: its default, what it means, its allowed range and whether it is fixed.

    `bounds` (low, high) becomes a FloatingPointRange for floats and an IntegerRange for ints;
    `choices` lists the allowed strings.
    """

    default: object
    description: str
    bounds: tuple[float, float] | None = None
    read_only: bool = True
    choices: tuple[str, ...] = ()


def _fixed(default: object, description: str, bounds=None, choices=()) -> Setting:
    return Setting(default, description, bounds, True, tuple(choices))


def _runtime(default: object, description: str, bounds=None, choices=()) -> Setting:
    return Setting(default, description, bounds, False, tuple(choices))


CAMERA_PARAMETERS: dict[str, Setting] = {
    "cameras": _fixed(
        ["/front", "/left", "/right"],
        "camera namespaces; each publishes <camera>/image_raw and <camera>/camera_info",
    ),
    "image_transport": _fixed(
        "raw", "raw (sensor_msgs/Image) or compressed (jpeg/png)", choices=("raw", "compressed")
    ),
    "slop": _fixed(0.02, "largest stamp difference within one camera set [s]", (0.0, 1.0)),
    "base_frame": _fixed("panda_link0", "robot base frame of actions and extrinsics"),
    "extrinsics_source": _fixed(
        "calibration",
        "camera poses from a calibration file or from TF (needs tf2_ros)",
        choices=("calibration", "tf"),
    ),
    "calibration_file": _fixed(
        "/tmp/action_images_ros/sim_calibration.yaml",
        "camera calibration (K, size, T_base_camera) for extrinsics_source calibration",
    ),
    "future_tolerance": _fixed(
        0.5,
        "data stamped more than this ahead of the node's clock is refused (allows for clock "
        "skew and a /clock that lags under load) [s]",
        (0.0, 10.0),
    ),
}

ARM_PARAMETERS: dict[str, Setting] = {
    "robot_description": _fixed(
        "", "URDF text of the robot; '' = the urdf path, else the latched /robot_description"
    ),
    "urdf": _fixed("", "path of the robot's URDF, used where robot_description is ''"),
    "robot_description_timeout": _fixed(
        10.0,
        "seconds to wait for /robot_description when neither robot_description nor urdf is set",
        (0.0, 3600.0),
    ),
    "base_link": _fixed("panda_link0", "first link of the IK chain (= base_frame)"),
    "tip_link": _fixed("panda_hand_tcp", "tool centre point the actions refer to"),
    "joint_names": _fixed(PANDA_JOINTS, "arm joints, in the controller's order"),
    "gripper_joint": _fixed("panda_finger_joint1", "joint_states entry measuring the opening"),
    "gripper_open_position": _fixed(
        0.04, "gripper_joint position when fully open [m]", (1e-6, 10.0)
    ),
}

POLICY_PARAMETERS: dict[str, Setting] = {
    **CAMERA_PARAMETERS,
    **ARM_PARAMETERS,
    "checkpoint": _fixed("", "model directory (save_pretrained format, safetensors)"),
    "device": _fixed("cpu", "torch device of the model: cpu, cuda, cuda:1 ..."),
    "task": _runtime(
        "", "task name of the model (its tasks.json) or an instruction; also ~/set_task"
    ),
    "num_inference_steps": _fixed(5, "denoising steps per chunk", (1, 1000)),
    "guidance_scale": _fixed(1.0, "classifier-free guidance (1 = off)", (0.0, 100.0)),
    "seed": _runtime(0, "noise seed; ~/reset restarts the noise sequence from it", (0, 2**31 - 1)),
    "max_age": _fixed(0.5, "a camera set older than this is never used [s]", (0.001, 60.0)),
    "camera_timeout": _fixed(
        0.3, "hold the arm when a camera's newest frame is older than this [s]", (0.001, 60.0)
    ),
    "enable_control": _runtime(
        False, "true: commands go to controller_topic; false: dry run on preview_topic"
    ),
    "controller_topic": _fixed(
        "/panda_arm_controller/joint_trajectory", "joint_trajectory_controller input"
    ),
    "gripper_topic": _fixed("/gripper_controller/commands", "gripper command topic"),
    "preview_topic": _fixed("~/preview/joint_trajectory", "dry-run trajectories go here"),
    "control_rate": _fixed(5.0, "trajectories published per second [Hz]", (0.1, 1000.0)),
    "horizon": _fixed(1.0, "seconds of the plan in each trajectory [s]", (0.01, 60.0)),
    "command_lead": _fixed(
        0.1,
        "each trajectory keeps the motion already commanded until this long after the control "
        "tick and continues from its state then (longer than computing and delivering it) [s]",
        (0.001, 10.0),
    ),
    "controller_open_loop": _fixed(
        True,
        "the controller splines a new trajectory from its last commanded state (JTC "
        "open_loop_control: true; the sim), so the safety layer verifies from there; false: "
        "from the measured state (JTC's default)",
    ),
    "chunk_merge": _fixed(
        "crossfade",
        "how a new chunk joins the plan: crossfade (blend) or inpaint (model continues it)",
        choices=MERGE_MODES,
    ),
    "blend_time": _fixed(0.3, "crossfade from the old plan to a new chunk [s]", (0.0, 60.0)),
    "replan_margin": _fixed(
        0.6,
        "start the next inference when less than this would be queued at its arrival (now + "
        "the measured inference time) [s]",
        (0.0, 60.0),
    ),
    "position_margin": _fixed(
        0.05, "stay this far inside the joint position limits [rad]", (0.0, 1.0)
    ),
    "velocity_scale": _fixed(0.5, "fraction of the URDF joint velocity limits", (0.001, 1.0)),
    "joint_acceleration_limits": _fixed(
        list(PANDA_MAX_ACCELERATION), "per joint acceleration limits [rad/s^2] (Franka Panda)"
    ),
    "joint_jerk_limits": _fixed(list(PANDA_MAX_JERK), "per joint jerk limits [rad/s^3]"),
    "acceleration_scale": _fixed(
        0.5, "fraction of joint_acceleration_limits allowed", (0.001, 1.0)
    ),
    "jerk_scale": _fixed(0.5, "fraction of joint_jerk_limits allowed", (0.001, 1.0)),
    "workspace_min": _fixed([0.2, -0.6, 0.0], "end-effector box lower corner in base_frame [m]"),
    "workspace_max": _fixed([0.85, 0.6, 0.8], "end-effector box upper corner in base_frame [m]"),
    "max_tcp_speed": _fixed(
        1.0, "a chunk asking the tool to move faster than this is refused [m/s]", (0.001, 100.0)
    ),
    "max_gripper_switches": _fixed(
        1, "a chunk switching the gripper more often than this is refused", (0, 1000)
    ),
    "watchdog_rate": _fixed(
        20.0, "how often the joint-state and camera watchdogs are checked [Hz]", (0.1, 1000.0)
    ),
    "watchdog_timeout": _fixed(
        0.2, "hold the arm when joint states are older than this [s]", (0.001, 60.0)
    ),
    "error_age": _fixed(
        5.0, "an error older than this no longer sets /diagnostics to WARN [s]", (0.0, 3600.0)
    ),
}

LABELING_PARAMETERS: dict[str, Setting] = {
    **CAMERA_PARAMETERS,
    **ARM_PARAMETERS,
    "max_age": _fixed(1.0, "older camera sets are not labeled [s]", (0.001, 60.0)),
    "path_source": _fixed(
        "joint_states",
        "joint_states (the robot's path, by FK) or policy (its predicted chunk)",
        choices=("joint_states", "policy"),
    ),
    "policy_chunk_topic": _fixed("/policy/action_chunk", "the policy's chunks"),
    "history": _fixed(3.0, "seconds of past path drawn [s]", (0.0, 600.0)),
    "publish_rate": _fixed(5.0, "labeled sets per second at most [Hz]", (0.1, 1000.0)),
}

SIM_PARAMETERS: dict[str, Setting] = {
    "task": _runtime(
        "reach", "task of the next episode (~/reset)", choices=("reach", "pick", "place")
    ),
    "seed": _runtime(
        0, "seed of the next episode; ~/reset then advances it by one", (0, 2**31 - 1)
    ),
    "scene_config": _fixed("", "YAML with cameras etc. (SceneConfig); '' = default 3 cameras"),
    "image_width": _fixed(256, "default cameras' image width [px]", (8, 4096)),
    "image_height": _fixed(256, "default cameras' image height [px]", (8, 4096)),
    "render_rate": _fixed(10.0, "camera frames per simulated second [Hz]", (0.1, 1000.0)),
    "state_rate": _fixed(
        50.0, "joint states and control steps per simulated second", (1.0, 10000.0)
    ),
    "real_time_factor": _runtime(
        1.0, "simulated seconds per wall second; 0 = as fast as possible", (0.0, 1000.0)
    ),
    "calibration_file": _fixed(
        "/tmp/action_images_ros/sim_calibration.yaml", "where the camera calibration is written"
    ),
    "controller_topic": _fixed(
        "/panda_arm_controller/joint_trajectory", "joint_trajectory_controller input"
    ),
    "gripper_topic": _fixed("/gripper_controller/commands", "gripper command topic"),
    "urdf": _fixed("", "URDF published on /robot_description; '' = the packaged Panda URDF"),
}
