"""On a ROS distribution, every ROS package that package.xml names must be installed.

Skipped where no ROS distribution is installed (the PyPI wheels provide only part of ROS).
"""

from __future__ import annotations

from pathlib import Path

import pytest

launch_ros = pytest.importorskip("launch_ros", reason="needs a ROS distribution (launch_ros)")
tf2_ros = pytest.importorskip("tf2_ros", reason="needs a ROS distribution (tf2_ros)")
ament_index = pytest.importorskip("ament_index_python.packages")
catkin_pkg = pytest.importorskip("catkin_pkg.package")

PACKAGE_XML = Path(__file__).parents[2] / "package.xml"


def test_every_declared_ros_dependency_is_installed() -> None:
    package = catkin_pkg.parse_package(str(PACKAGE_XML))
    names = {d.name for d in package.exec_depends + package.test_depends + package.build_depends}
    ros_packages = sorted(n for n in names if not n.startswith("python3-"))
    missing = []
    for name in ros_packages:
        try:
            ament_index.get_package_share_directory(name)
        except ament_index.PackageNotFoundError:
            missing.append(name)
    assert not missing, f"declared in package.xml but not installed: {missing}"
