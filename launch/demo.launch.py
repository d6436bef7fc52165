"""The simulated demo: sim, policy, labeling, robot_state_publisher and RViz.

    ros2 launch action_images_ros demo.launch.py task:=pick enable_control:=true rviz:=false

The policy node runs the packaged default checkpoint (`checkpoint:=` another model directory;
`checkpoint:=''` starts no policy: the sim and the labeling node only) on `task`, in dry run
unless `enable_control:=true`. robot_state_publisher (serving /robot_description to RViz) and RViz
start where they are installed, and are skipped with a message where they are not; `rviz:=false`
and `robot_state_publisher:=false` turn them off. The nodes get the Panda URDF by path, so they
run with or without robot_state_publisher.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    GroupAction,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
)
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, NotEqualsSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from action_images_ros.launch_support import (
    display_urdf,
    is_installed,
    package_share,
    packaged_checkpoint,
    packaged_urdf,
    parameter_overrides,
)

SHARE = package_share(__file__)
DISPLAY_DESCRIPTION_TOPIC = "/demo/robot_description"  # rviz/demo.rviz shows this one


def _visualisation(context: LaunchContext) -> list:
    """robot_state_publisher and RViz, each where it is asked for and installed."""
    wanted = parameter_overrides(
        {
            name: LaunchConfiguration(name).perform(context)
            for name in ("rviz", "robot_state_publisher")
        },
        {"rviz": bool, "robot_state_publisher": bool},
    )
    actions: list = []
    if wanted.get("robot_state_publisher", True):
        if is_installed("robot_state_publisher"):
            description = ParameterValue(display_urdf(packaged_urdf()), value_type=str)
            actions.append(
                Node(
                    package="robot_state_publisher",
                    executable="robot_state_publisher",
                    output="screen",
                    parameters=[{"robot_description": description, "use_sim_time": True}],
                    # The sim serves /robot_description itself; this copy names meshes RViz finds.
                    remappings=[("robot_description", DISPLAY_DESCRIPTION_TOPIC)],
                )
            )
        else:
            actions.append(LogInfo(msg="robot_state_publisher is not installed: not started"))
    if wanted.get("rviz", True):
        if is_installed("rviz2"):
            actions.append(
                Node(
                    package="rviz2",
                    executable="rviz2",
                    arguments=["-d", str(SHARE / "rviz" / "demo.rviz")],
                    parameters=[{"use_sim_time": True}],
                )
            )
        else:
            actions.append(LogInfo(msg="rviz2 is not installed: RViz not started (rviz:=false)"))
    return actions


def generate_launch_description() -> LaunchDescription:
    checkpoint = LaunchConfiguration("checkpoint")
    urdf = str(packaged_urdf())

    def include(name: str, condition=None, **arguments) -> GroupAction:
        # Scoped: what an included file declares (its urdf, its config) stays inside it.
        source = PythonLaunchDescriptionSource(str(SHARE / "launch" / name))
        included = IncludeLaunchDescription(source, launch_arguments=arguments.items())
        return GroupAction([included], scoped=True, condition=condition)

    def argument(name: str, description: str, default: str = "") -> DeclareLaunchArgument:
        return DeclareLaunchArgument(name, default_value=default, description=description)

    default_checkpoint = packaged_checkpoint()
    return LaunchDescription(
        [
            argument(
                "checkpoint",
                "model directory ('' = no policy)",
                str(default_checkpoint) if default_checkpoint else "",
            ),
            argument("task", "reach | pick | place (empty: the configs')"),
            argument("seed", "the sim's episode seed (empty: the config's)"),
            argument("device", "the policy's torch device (empty: the config's)"),
            argument("enable_control", "true: the policy moves the arm; false: dry run", "false"),
            argument("rviz", "start RViz where rviz2 is installed", "true"),
            argument(
                "robot_state_publisher", "start robot_state_publisher where installed", "true"
            ),
            include(
                "sim.launch.py", task=LaunchConfiguration("task"), seed=LaunchConfiguration("seed")
            ),
            include(
                "policy.launch.py",
                checkpoint=checkpoint,
                task=LaunchConfiguration("task"),
                device=LaunchConfiguration("device"),
                enable_control=LaunchConfiguration("enable_control"),
                urdf=urdf,
                condition=IfCondition(NotEqualsSubstitution(checkpoint, "")),
            ),
            include("labeling.launch.py", urdf=urdf),
            OpaqueFunction(function=_visualisation),
        ]
    )
