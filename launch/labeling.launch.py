"""The labeling node: `ros2 launch action_images_ros labeling.launch.py`.

It draws the action image of the robot's own path (or of the policy's chunk) over every camera
view, so a calibration can be checked in RViz: the red blob must sit on the gripper in every view.
`labeling_config:=` selects the parameter file (default config/labeling_sim.yaml: the simulated
Panda, or a bag replayed with `ros2 bag play --clock`). The robot model comes from the config's
`urdf` or `robot_description` (else the latched /robot_description), or from `urdf:=`; only with
the default sim config is the packaged Panda URDF passed for you.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from action_images_ros.launch_support import node_parameters, package_share

OVERRIDES = {"urdf": str}
SIM_CONFIG = package_share(__file__) / "config" / "labeling_sim.yaml"


def _labeling_node(context: LaunchContext) -> list[Node]:
    config = LaunchConfiguration("labeling_config").perform(context)
    arguments = {name: LaunchConfiguration(name).perform(context) for name in OVERRIDES}
    return [
        Node(
            package="action_images_ros",
            executable="labeling_node",
            name="labeling",
            output="screen",
            parameters=node_parameters("labeling_config", config, SIM_CONFIG, arguments, OVERRIDES),
        )
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "labeling_config",
                default_value=str(SIM_CONFIG),
                description="the labeling node's parameter file",
            ),
            DeclareLaunchArgument(
                "urdf",
                default_value="",
                description="URDF file of the robot (empty: the config's urdf/robot_description)",
            ),
            OpaqueFunction(function=_labeling_node),
        ]
    )
