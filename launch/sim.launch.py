"""The simulated Panda alone: `ros2 launch action_images_ros sim.launch.py task:=pick`."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution(
        [FindPackageShare("action_images_ros"), "config", "sim_panda.yaml"]
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "task", default_value="reach", description="reach | pick | place"
            ),
            DeclareLaunchArgument("seed", default_value="0"),
            DeclareLaunchArgument("real_time_factor", default_value="1.0"),
            Node(
                package="action_images_ros",
                executable="sim_node",
                name="sim",
                output="screen",
                parameters=[
                    config,
                    {
                        "task": LaunchConfiguration("task"),
                        "seed": LaunchConfiguration("seed"),
                        "real_time_factor": LaunchConfiguration("real_time_factor"),
                    },
                ],
            ),
        ]
    )
