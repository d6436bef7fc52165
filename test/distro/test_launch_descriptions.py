"""Every launch file loads with the launch API and resolves to nodes with valid parameters.

Each description is visited as `ros2 launch` would (arguments declared, includes and
OpaqueFunctions expanded, conditions evaluated), then every node's substitutions are performed:
its executable must be installed and its parameters must serialise (a PosixPath or other
non-parameter value fails here, as it would under `ros2 launch`). Needs launch and launch_ros,
and this package built into the ament index (scripts/bootstrap.sh or colcon).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

# A missing launch package shows as an ImportError of launch.actions: the repository's launch/
# folder alone imports as a namespace package "launch".
try:
    from launch import LaunchContext, LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.utilities import normalize_to_list_of_substitutions, perform_substitutions
    from launch_ros.actions import Node
except ImportError as missing:
    pytest.skip(
        f"needs the ROS 2 launch and launch_ros packages (a ROS distribution): {missing}",
        allow_module_level=True,
    )

ROOT = Path(__file__).parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
PARAMETER_TYPES = (str, int, float, bool, list)


def resolve(path: Path, **arguments: str) -> dict[str, dict[str, object]]:
    """Visit the launch file with `arguments`; each started node's name -> its parameters."""
    context = LaunchContext()
    top = LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(path)), launch_arguments=arguments.items()
            )
        ]
    )
    nodes: list[Node] = []
    pending = [top]
    while pending:
        entity = pending.pop(0)
        if isinstance(entity, Node):
            if entity.condition is None or entity.condition.evaluate(context):
                entity._perform_substitutions(context)
                nodes.append(entity)
            continue
        pending[:0] = entity.visit(context) or []
    return {_name(node, context): _parameters(node, context) for node in nodes}


def _name(node: Node, context: LaunchContext) -> str:
    """The node's name, or its executable's where the launch file names no node."""
    name = node.node_name.split("/")[-1]
    if name != Node.UNSPECIFIED_NODE_NAME:
        return name
    return perform_substitutions(context, normalize_to_list_of_substitutions(node.node_executable))


def _parameters(node: Node, context: LaunchContext) -> dict[str, object]:
    # What Node.execute puts in the context for the node's `-r __node:=` arguments.
    context.extend_locals({"ros_specific_arguments": {"name": "__node:=n", "ns": "__ns:=/"}})
    command = [perform_substitutions(context, part) for part in node.cmd]
    assert Path(command[0]).is_file(), f"{command[0]} is not installed"
    parameters: dict[str, object] = {}
    for flag, value in zip(command, command[1:], strict=False):
        if flag == "--params-file":
            assert Path(value).is_file(), f"parameter file {value} does not exist"
            for section in yaml.safe_load(Path(value).read_text()).values():
                parameters.update(section["ros__parameters"])
    for name, value in parameters.items():
        assert isinstance(value, PARAMETER_TYPES), f"{name}: {value!r} is not a parameter value"
    return parameters


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_resolves_with_its_defaults(path: Path) -> None:
    nodes = resolve(path, rviz="false")
    assert nodes, f"{path.name} starts no node"
    for name, parameters in nodes.items():
        if name in ("policy", "labeling"):
            assert Path(str(parameters["urdf"])).is_file(), f"{name} gets no URDF"


def test_demo_starts_sim_policy_and_labeling_in_dry_run_with_the_packaged_model() -> None:
    nodes = resolve(ROOT / "launch" / "demo.launch.py", rviz="false", task="pick")
    assert {"sim", "policy", "labeling"} <= set(nodes)
    policy = nodes["policy"]
    assert policy["enable_control"] is False
    assert any(Path(str(policy["checkpoint"])).iterdir()), "the packaged model is empty"
    assert policy["task"] == nodes["sim"]["task"] == "pick"
    assert "rviz2" not in nodes


def test_demo_without_a_checkpoint_starts_no_policy() -> None:
    nodes = resolve(ROOT / "launch" / "demo.launch.py", rviz="false", checkpoint="")
    assert "policy" not in nodes and {"sim", "labeling"} <= set(nodes)


def test_robot_state_publisher_gets_the_urdf_text_where_installed() -> None:
    from action_images_ros.launch_support import is_installed

    nodes = resolve(ROOT / "launch" / "demo.launch.py", rviz="false")
    if not is_installed("robot_state_publisher"):
        assert "robot_state_publisher" not in nodes
        pytest.skip("robot_state_publisher is not installed: the demo runs without it")
    description = nodes["robot_state_publisher"]["robot_description"]
    assert isinstance(description, str) and description.lstrip().startswith("<")
    assert "package://example-robot-data" not in description


def test_a_robot_config_keeps_its_own_robot_model() -> None:
    config = ROOT / "config" / "robots" / "franka_panda.yaml"
    nodes = resolve(ROOT / "launch" / "policy.launch.py", policy_config=str(config))
    configured = yaml.safe_load(config.read_text())["policy"]["ros__parameters"]
    assert nodes["policy"].get("urdf") == configured.get("urdf")


def test_launch_arguments_are_typed_and_checked() -> None:
    nodes = resolve(ROOT / "launch" / "sim.launch.py", seed="7", real_time_factor="2")
    assert nodes["sim"]["seed"] == 7 and nodes["sim"]["real_time_factor"] == 2.0
    with pytest.raises(ValueError, match="enable_control"):
        resolve(ROOT / "launch" / "policy.launch.py", enable_control="maybe")
