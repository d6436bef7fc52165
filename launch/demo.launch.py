"""The simulated demo on a ROS distribution: sim, policy, labeling, robot model and RViz.

    ros2 launch action_images_ros demo.launch.py enable_control:=true task:=pick

The policy node runs the packaged default checkpoint (`checkpoint:=` another model directory;
`checkpoint:=''` starts no policy: the sim, the labeling node and RViz only) on `task`.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory("action_images_ros"))
    urdf = (share.parent.parent / "lib").glob(
        "python3*/site-packages/action_images_ros/sim/assets/panda/panda.urdf"
    )
    robot_description = next(iter(urdf), None)
    packaged = next(iter((share.parent.parent / "lib").glob(
        "python3*/site-packages/action_images_ros/checkpoints/sim_panda_small"
    )), "")  # fmt: skip
    checkpoint = LaunchConfiguration("checkpoint")
    actions = [
        DeclareLaunchArgument(
            "checkpoint", default_value=str(packaged), description="model directory"
        ),
        DeclareLaunchArgument("enable_control", default_value="false"),
        DeclareLaunchArgument("task", default_value="reach"),
        DeclareLaunchArgument("rviz", default_value="true"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(share / "launch" / "sim.launch.py")),
            launch_arguments={"task": LaunchConfiguration("task")}.items(),
        ),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(share / "launch" / "policy.launch.py")),
            launch_arguments={
                "checkpoint": checkpoint,
                "task": LaunchConfiguration("task"),
                "enable_control": LaunchConfiguration("enable_control"),
            }.items(),
            condition=IfCondition(PythonExpression(["'", checkpoint, "' != ''"])),
        ),
        Node(
            package="action_images_ros",
            executable="labeling_node",
            name="labeling",
            output="screen",
            parameters=[str(share / "config" / "labeling_sim.yaml")],
        ),
        Node(
            package="robot_state_publisher",
            executable="robot_state_publisher",
            parameters=[{"robot_description": robot_description, "use_sim_time": True}],
        ),
        Node(
            package="rviz2",
            executable="rviz2",
            arguments=["-d", str(share / "rviz" / "demo.rviz")],
            condition=IfCondition(LaunchConfiguration("rviz")),
        ),
    ]
    return LaunchDescription(actions)
