"""pip metadata for action_images_ros.

colcon builds this repository as one ament_cmake package (CMakeLists.txt), which generates the
interfaces in msg/ and installs the Python package. This file makes the same Python package
pip-installable with its dependencies, for machines without a ROS distribution (see
scripts/bootstrap.sh) and for users who only need the pure core.
"""

from pathlib import Path

from setuptools import find_packages, setup


def _requirements(path: str) -> list[str]:
    lines = (Path(__file__).parent / path).read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="action_images_ros",
    version="0.1.0",
    description="Action Images world action models on ROS 2 manipulators",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["action_images_ros", "action_images_ros.*"]),
    include_package_data=True,
    package_data={"action_images_ros": ["sim/assets/**/*", "checkpoints/**/*"]},
    install_requires=_requirements("requirements/python.txt"),
    entry_points={"console_scripts": ["action-images = action_images_ros.cli:main"]},
    extras_require={
        # Meta-World pins mujoco 3.3.0: its own environment (scripts/metaworld_env/setup_env.sh).
        "metaworld": _requirements("requirements/metaworld.txt"),
        # launch_pytest (distro test tier) breaks under pytest 8.4 and newer.
        "test": [
            "pytest>=8,<8.4",
            "pytest-timeout>=2.3",
            "pytest-xdist>=3.5",
            "hypothesis>=6.100",
            "ruff>=0.8",
        ],
    },
)
