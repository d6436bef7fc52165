"""The simulated Panda alone: `ros2 launch action_images_ros sim.launch.py task:=pick`.

It publishes the cameras (<camera>/image_raw, <camera>/camera_info), /joint_states, /clock and
TF, and executes trajectories sent to the controller topic of config/sim_panda.yaml.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from action_images_ros.launch_support import existing_file, package_share, parameter_overrides

OVERRIDES = {"task": str, "seed": int, "real_time_factor": float}


def _sim_node(context: LaunchContext) -> list[Node]:
    arguments = {name: LaunchConfiguration(name).perform(context) for name in OVERRIDES}
    return [
        Node(
            package="action_images_ros",
            executable="sim_node",
            name="sim",
            output="screen",
            parameters=[
                existing_file("sim_config", LaunchConfiguration("sim_config").perform(context)),
                parameter_overrides(arguments, OVERRIDES),
            ],
        )
    ]


def generate_launch_description() -> LaunchDescription:
    config = package_share(__file__) / "config" / "sim_panda.yaml"
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "sim_config", default_value=str(config), description="the sim node's parameter file"
            ),
            DeclareLaunchArgument(
                "task", default_value="", description="reach | pick | place (empty: the config's)"
            ),
            DeclareLaunchArgument(
                "seed", default_value="", description="episode seed (empty: the config's)"
            ),
            DeclareLaunchArgument(
                "real_time_factor",
                default_value="",
                description="sim time per wall-clock second (empty: the config's)",
            ),
            OpaqueFunction(function=_sim_node),
        ]
    )
