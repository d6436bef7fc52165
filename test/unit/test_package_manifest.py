"""package.xml is a valid format-3 manifest that declares exactly the ROS packages the code uses.

"Used" means imported by the package, its launch files or its tests (a module named in
`pytest.importorskip` counts), started by a launch file (`package="..."`), or named in
CMakeLists.txt (interface dependencies, test macros).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from catkin_pkg.package import parse_package

ROOT = Path(__file__).parents[2]
SOURCES = ("action_images_ros", "launch", "test", "bench", "scripts")
# Python modules whose ROS package has another name.
PACKAGE_OF_MODULE = {"tf2_ros": "tf2_ros_py", "tf2_py": "tf2_py"}
ROS_MODULES = {
    "ament_index_python",
    "cv_bridge",
    "launch",
    "launch_pytest",
    "launch_ros",
    "launch_testing",
    "launch_testing_ros",
    "message_filters",
    "rclpy",
    "rosbag2_py",
    "rosidl_runtime_py",
    "tf2_py",
    "tf2_ros",
}


def _is_ros_module(name: str) -> bool:
    return name in ROS_MODULES or name.endswith(("_msgs", "_srvs", "_interfaces"))


def _imported_modules() -> set[str]:
    modules: set[str] = set()
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules.add(node.module.split(".")[0])
                elif (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", "") == "importorskip"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    modules.add(str(node.args[0].value).split(".")[0])
    return modules


def _ros_packages_used() -> set[str]:
    imported = {
        PACKAGE_OF_MODULE.get(m, m)
        for m in _imported_modules()
        if _is_ros_module(m) and m != "action_images_ros"
    }
    launched = set()
    for path in (ROOT / "launch").glob("*.launch.py"):
        launched.update(re.findall(r'package="([a-z_0-9]+)"', path.read_text()))
    cmake = (ROOT / "CMakeLists.txt").read_text()
    in_cmake = set(re.findall(r"find_package\((\w+) REQUIRED\)", cmake))
    return (imported | launched | in_cmake) - {"action_images_ros"}


def _declared() -> set[str]:
    package = parse_package(str(ROOT / "package.xml"))
    dependencies = (
        package.build_depends
        + package.buildtool_depends
        + package.exec_depends
        + package.build_export_depends
        + package.test_depends
    )
    return {d.name for d in dependencies if not d.name.startswith("python3-")}


def test_manifest_is_a_format_3_ament_cmake_interface_package() -> None:
    package = parse_package(str(ROOT / "package.xml"))
    assert package.package_format == 3
    assert package.name == "action_images_ros"
    assert package.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [g.name for g in package.member_of_groups]
    assert "rosidl_default_runtime" in {d.name for d in package.exec_depends}


def test_every_ros_package_the_code_uses_is_declared() -> None:
    missing = sorted(_ros_packages_used() - _declared())
    assert not missing, f"used but not declared in package.xml: {missing}"


def test_nothing_declared_is_unused() -> None:
    # rosidl_default_runtime: the generated interfaces' run-time support (no import names it).
    unused = sorted(_declared() - _ros_packages_used() - {"rosidl_default_runtime"})
    assert not unused, f"declared in package.xml but never used: {unused}"


def test_the_python_module_tf2_ros_is_declared_by_its_package() -> None:
    declared = _declared()
    assert "tf2_ros_py" in declared and "tf2_ros" not in declared


def test_every_interface_is_generated_and_every_version_agrees() -> None:
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for interface in sorted([*ROOT.glob("msg/*.msg"), *ROOT.glob("srv/*.srv")]):
        name = f"{interface.parent.name}/{interface.name}"
        assert f'"{name}"' in cmake, f"{name} is not in rosidl_generate_interfaces"
    version = parse_package(str(ROOT / "package.xml")).version
    assert f'version="{version}"' in (ROOT / "setup.py").read_text()
