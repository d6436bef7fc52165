"""The policy node: `ros2 launch action_images_ros policy.launch.py policy_config:=robot.yaml`.

`policy_config:=` is the parameter file (default config/policy_sim.yaml, the simulated Panda;
for a real arm start from config/robots/ or config/policy_real_robot.template.yaml, see
docs/real_robot.md). Every other argument left empty keeps the config's value. The robot model
comes from the config's `urdf` or `robot_description` (else the latched /robot_description of
robot_state_publisher), or from `urdf:=`; only with the default sim config is the packaged Panda
URDF passed for you. The node starts in dry run (trajectories on ~/preview/joint_trajectory)
unless `enable_control:=true` or a call of its ~/enable service.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from action_images_ros.launch_support import node_parameters, package_share

OVERRIDES = {"checkpoint": str, "device": str, "task": str, "enable_control": bool, "urdf": str}
SIM_CONFIG = package_share(__file__) / "config" / "policy_sim.yaml"


def _policy_node(context: LaunchContext) -> list[Node]:
    config = LaunchConfiguration("policy_config").perform(context)
    arguments = {name: LaunchConfiguration(name).perform(context) for name in OVERRIDES}
    return [
        Node(
            package="action_images_ros",
            executable="policy_node",
            name="policy",
            output="screen",
            parameters=node_parameters("policy_config", config, SIM_CONFIG, arguments, OVERRIDES),
        )
    ]


def generate_launch_description() -> LaunchDescription:
    def argument(name: str, description: str, default: str = "") -> DeclareLaunchArgument:
        return DeclareLaunchArgument(name, default_value=default, description=description)

    return LaunchDescription(
        [
            argument("policy_config", "the policy node's parameter file", str(SIM_CONFIG)),
            argument("checkpoint", "model directory (empty: the config's)"),
            argument("device", "torch device: cpu | cuda | cuda:1 ... (empty: the config's)"),
            argument("task", "the model's task name or instruction (empty: the config's)"),
            argument("enable_control", "true: command the robot; false: dry run (empty: config)"),
            argument("urdf", "URDF file of the robot (empty: the config's urdf/robot_description)"),
            OpaqueFunction(function=_policy_node),
        ]
    )
