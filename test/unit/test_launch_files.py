"""Launch files parse, and name only executables, configs and files that the package installs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_refers_to_what_is_installed(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
               for n in tree.body)  # fmt: skip
    cmake = (ROOT / "CMakeLists.txt").read_text()
    nodes = re.search(r"set\(NODES ([^)]*)\)", cmake).group(1).split()
    for package, executable in re.findall(
        r'package="([a-z_0-9]+)",\s*executable="([a-z_0-9]+)"', source
    ):
        if package == "action_images_ros":
            assert executable in nodes, f"{path.name}: {executable} is not installed"
            assert (ROOT / "action_images_ros/nodes" / f"{executable}.py").exists()
    for folder, name in re.findall(r'"(config|launch|rviz)",\s*"([^"]+)"', source):
        assert (ROOT / folder / name).exists(), f"{path.name}: {folder}/{name} does not exist"
    for folder, name in re.findall(r'share / "(config|launch|rviz)" / "([^"]+)"', source):
        assert (ROOT / folder / name).exists(), f"{path.name}: {folder}/{name} does not exist"
