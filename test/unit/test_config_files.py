"""Every YAML config names exactly the parameters its node declares."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
NODES = {
    "sim": ROOT / "action_images_ros/nodes/sim_node.py",
    "policy": ROOT / "action_images_ros/nodes/policy_node.py",
    "labeling": ROOT / "action_images_ros/nodes/labeling_node.py",
}


def _declared(path: Path) -> set[str]:
    source = path.read_text()
    names = set(re.findall(r'declare_parameter\(\s*"([a-z_]+)"', source))
    tree = ast.parse(source)
    shared = ast.parse((ROOT / "action_images_ros/nodes/parameters.py").read_text())
    groups = {
        node.target.id: {key.value for key in node.value.keys}
        for node in shared.body
        if isinstance(node, ast.AnnAssign)
    }
    for node in ast.walk(tree):  # `defaults = {**GROUP, "name": value, ...}` declared in a loop
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "defaults":
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                names |= groups[value.id] if key is None else {key.value}
    return names


@pytest.mark.parametrize(
    "config",
    sorted(p.name for p in (ROOT / "config").glob("*.yaml")),
)
def test_config_matches_declared_parameters(config: str) -> None:
    document = yaml.safe_load((ROOT / "config" / config).read_text())
    (node_name, section), *rest = document.items()
    assert not rest and node_name in NODES
    given = set(section["ros__parameters"]) - {"use_sim_time"}
    assert given == _declared(NODES[node_name]), f"{config} disagrees with {node_name}"
