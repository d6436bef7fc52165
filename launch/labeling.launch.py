"""The labeling node: `ros2 launch action_images_ros labeling.launch.py` (add `config:=` for a
real robot; with `ros2 bag play --clock` keep use_sim_time true)."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    default_config = PathJoinSubstitution(
        [FindPackageShare("action_images_ros"), "config", "labeling_sim.yaml"]
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("config", default_value=default_config),
            Node(
                package="action_images_ros",
                executable="labeling_node",
                name="labeling",
                output="screen",
                parameters=[LaunchConfiguration("config")],
            ),
        ]
    )
