"""pip metadata for action_images_ros.

colcon builds this repository as one ament_cmake package (CMakeLists.txt), which generates the
interfaces in msg/ and installs the Python package. This file makes the same Python package
pip-installable, with its dependencies and the `action-images` command, for machines without
a ROS distribution (see scripts/bootstrap.sh) and for users who only need the pure core.
"""

from setuptools import find_packages, setup

setup(
    name="action_images_ros",
    version="0.1.0",
    description="Action Images world action models on ROS 2 manipulators",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["action_images_ros", "action_images_ros.*"]),
    include_package_data=True,
    package_data={"action_images_ros": ["sim/assets/**/*"]},
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "pyyaml>=6",
        "torch>=2.4",
        "roma>=1.5",
        "opencv-python-headless>=4.8",
        "imageio>=2.31",
        "av>=12",
        "matplotlib>=3.7",
        "tqdm>=4.66",
        "safetensors>=0.4",
        "diffusers>=0.35",
        "accelerate>=1.0",
        "peft>=0.15",
        "mujoco>=3.2",
        "rosbags>=0.10",
    ],
    extras_require={
        # launch_pytest (distro test tier) breaks under pytest 8.4 and newer.
        "test": ["pytest>=8,<8.4", "pytest-timeout>=2.3", "hypothesis>=6.100", "ruff>=0.8"],
    },
)
