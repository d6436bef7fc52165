"""Launch files name only executables and files the package installs; launch_support's helpers.

test/distro/test_launch_descriptions.py loads the launch files with the launch API; this tier
needs no ROS distribution.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from action_images_ros import launch_support

ROOT = Path(__file__).parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_refers_to_what_is_installed(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source)
    assert any(
        isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
        for n in tree.body
    )
    cmake = (ROOT / "CMakeLists.txt").read_text()
    nodes = re.search(r"set\(NODES ([^)]*)\)", cmake).group(1).split()
    for package, executable in re.findall(
        r'package="([a-z_0-9]+)",\s*executable="([a-z_0-9]+)"', source
    ):
        if package == "action_images_ros":
            assert executable in nodes, f"{path.name}: {executable} is not installed"
            assert (ROOT / "action_images_ros/nodes" / f"{executable}.py").exists()
    named = re.findall(r'/ "(config|launch|rviz)" / "([^"]+)"', source)
    named += [("launch", name) for name in re.findall(r'include\(\s*"([^"]+)"', source)]
    for folder, name in named:
        assert (ROOT / folder / name).exists(), f"{path.name}: {folder}/{name} does not exist"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_launch_argument_has_a_description_and_a_default(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "DeclareLaunchArgument":
            keywords = {k.arg for k in call.keywords}
            assert {"default_value", "description"} <= keywords, ast.unparse(call)


def test_packaged_files_exist() -> None:
    assert launch_support.packaged_urdf().is_file()
    checkpoint = launch_support.packaged_checkpoint()
    assert checkpoint is not None and any(checkpoint.iterdir())
    assert (launch_support.package_share(ROOT / "launch" / "x.launch.py") / "config").is_dir()


def test_display_urdf_points_every_mesh_at_a_shipped_file() -> None:
    original = launch_support.packaged_urdf().read_text()
    text = launch_support.display_urdf(launch_support.packaged_urdf())
    meshes = re.findall(r'filename="([^"]+)"', text)
    assert len(meshes) == original.count("filename=") > 0
    for uri in meshes:
        assert uri.startswith("file://") and Path(uri.removeprefix("file://")).is_file(), uri
    assert re.sub(r'filename="[^"]+"', "", text) == re.sub(r'filename="[^"]+"', "", original)


def test_parameter_overrides_keep_empty_arguments_and_type_the_rest() -> None:
    types = {"task": str, "seed": int, "real_time_factor": float, "enable_control": bool}
    arguments = {"task": "yes", "seed": "3", "real_time_factor": "", "enable_control": "True"}
    assert launch_support.parameter_overrides(arguments, types) == {
        "task": "yes",
        "seed": 3,
        "enable_control": True,
    }
    assert launch_support.parameter_overrides({}, types) == {}


@pytest.mark.parametrize(
    ("name", "text"), [("seed", "1.5"), ("real_time_factor", "fast"), ("enable_control", "maybe")]
)
def test_parameter_overrides_refuse_a_mistyped_argument_by_name(name: str, text: str) -> None:
    types = {"seed": int, "real_time_factor": float, "enable_control": bool}
    with pytest.raises(ValueError, match=rf"{name}:='{text}'"):
        launch_support.parameter_overrides({name: text}, types)


def test_existing_file_names_the_argument_of_a_missing_file(tmp_path: Path) -> None:
    present = tmp_path / "robot.yaml"
    present.write_text("{}")
    assert launch_support.existing_file("config", str(present)) == str(present)
    with pytest.raises(FileNotFoundError, match="config:="):
        launch_support.existing_file("config", str(tmp_path / "missing.yaml"))


def test_rviz_shows_the_robot_description_the_demo_serves_for_it() -> None:
    import yaml

    tree = ast.parse((ROOT / "launch" / "demo.launch.py").read_text())
    served = next(
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "DISPLAY_DESCRIPTION_TOPIC"
    )
    displays = yaml.safe_load((ROOT / "rviz" / "demo.rviz").read_text())["Visualization Manager"]
    robot = next(d for d in displays["Displays"] if d["Class"].endswith("/RobotModel"))
    assert robot["Description Topic"]["Value"] == served
