"""The policy node: `ros2 launch action_images_ros policy.launch.py checkpoint:=/path/to/model`.

`config:=` selects the parameter file (default: config/policy_sim.yaml; for a real robot copy
config/policy_real_robot.template.yaml); `task:=` names the model's task (or the instruction of a
text-conditioned model); `enable_control:=true` lets it move the robot.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    default_config = PathJoinSubstitution(
        [FindPackageShare("action_images_ros"), "config", "policy_sim.yaml"]
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("config", default_value=default_config),
            DeclareLaunchArgument("checkpoint", description="model directory"),
            DeclareLaunchArgument("device", default_value="cpu"),
            DeclareLaunchArgument("task", default_value=""),
            DeclareLaunchArgument("enable_control", default_value="false"),
            Node(
                package="action_images_ros",
                executable="policy_node",
                name="policy",
                output="screen",
                parameters=[
                    LaunchConfiguration("config"),
                    {
                        "checkpoint": LaunchConfiguration("checkpoint"),
                        "device": LaunchConfiguration("device"),
                        "task": LaunchConfiguration("task"),
                        "enable_control": ParameterValue(
                            LaunchConfiguration("enable_control"), value_type=bool
                        ),
                    },
                ],
            ),
        ]
    )
