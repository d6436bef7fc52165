"""package.xml is a valid format-3 manifest that declares what the nodes really use."""

from __future__ import annotations

from pathlib import Path

from catkin_pkg.package import parse_package

ROOT = Path(__file__).parents[2]


def test_manifest_declares_ros_dependencies() -> None:
    package = parse_package(str(ROOT / "package.xml"))
    assert package.package_format == 3
    assert package.name == "action_images_ros"
    runtime = {d.name for d in package.exec_depends + package.build_export_depends}
    for name in (
        "rclpy",
        "sensor_msgs",
        "geometry_msgs",
        "trajectory_msgs",
        "visualization_msgs",
        "tf2_ros",
        "launch_ros",
        "rosidl_default_runtime",
    ):
        assert name in runtime, f"package.xml must declare {name}"
    assert "launch_pytest" in {d.name for d in package.test_depends}
    assert package.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [g.name for g in package.member_of_groups]


def test_every_interface_is_generated_and_every_version_agrees() -> None:
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for msg in sorted((ROOT / "msg").glob("*.msg")):
        assert f'"msg/{msg.name}"' in cmake, f"{msg.name} is not in rosidl_generate_interfaces"
    version = parse_package(str(ROOT / "package.xml")).version
    assert f'version="{version}"' in (ROOT / "setup.py").read_text()
