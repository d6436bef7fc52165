"""On a ROS distribution, every ROS package that package.xml names is installed.

Skipped where no ROS distribution is installed (the PyPI wheels provide only part of ROS).
robot_state_publisher and rviz2 are declared for the demo, which starts them only where they
are installed; their absence is reported as a skip, not a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("launch_ros", reason="needs a ROS distribution (launch_ros)")
pytest.importorskip("tf2_ros", reason="needs a ROS distribution (tf2_ros_py)")
ament_index = pytest.importorskip("ament_index_python.packages")
catkin_pkg = pytest.importorskip("catkin_pkg.package")

PACKAGE_XML = Path(__file__).parents[2] / "package.xml"
OPTIONAL = {"robot_state_publisher", "rviz2"}


def _missing_ros_dependencies() -> set[str]:
    package = catkin_pkg.parse_package(str(PACKAGE_XML))
    names = {d.name for d in package.exec_depends + package.test_depends + package.build_depends}
    missing = set()
    for name in sorted(n for n in names if not n.startswith("python3-")):
        try:
            ament_index.get_package_share_directory(name)
        except ament_index.PackageNotFoundError:
            missing.add(name)
    return missing


def test_every_required_ros_dependency_is_installed() -> None:
    missing = sorted(_missing_ros_dependencies() - OPTIONAL)
    assert not missing, f"declared in package.xml but not installed: {missing}"


def test_the_demo_s_optional_viewers_are_installed() -> None:
    missing = sorted(_missing_ros_dependencies() & OPTIONAL)
    if missing:
        pytest.skip(f"not installed (demo.launch.py runs without them): {missing}")
