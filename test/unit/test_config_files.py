"""Every YAML config names exactly the parameters its node declares, with the node's defaults.

The node tables live in nodes/parameters.py (no ROS needed to read them); the nodes declare
exactly those (test_policy_node checks a running node's parameters against its table). The
real-robot template differs in values by design (its TODOs): only its names are compared.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from action_images_ros.nodes.parameters import (
    LABELING_PARAMETERS,
    POLICY_PARAMETERS,
    SIM_PARAMETERS,
    Setting,
)

ROOT = Path(__file__).parents[2]
TABLES = {"sim": SIM_PARAMETERS, "policy": POLICY_PARAMETERS, "labeling": LABELING_PARAMETERS}
TEMPLATES = {"policy_real_robot.template.yaml"}


def _section(config: str) -> tuple[str, dict]:
    document = yaml.safe_load((ROOT / "config" / config).read_text())
    (node_name, section), *rest = document.items()
    assert not rest and node_name in TABLES, f"{config}: one section named after a node"
    given = dict(section["ros__parameters"])
    given.pop("use_sim_time", None)
    return node_name, given


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_config_names_every_declared_parameter(config: str) -> None:
    node_name, given = _section(config)
    assert set(given) == set(TABLES[node_name]), f"{config} disagrees with {node_name}"


@pytest.mark.parametrize(
    "config",
    sorted(p.name for p in (ROOT / "config").glob("*.yaml") if p.name not in TEMPLATES),
)
def test_config_values_are_the_node_defaults(config: str) -> None:
    node_name, given = _section(config)
    different = {
        name: (value, TABLES[node_name][name].default)
        for name, value in given.items()
        if value != TABLES[node_name][name].default
        or type(value) is not type(TABLES[node_name][name].default)
    }
    assert not different, f"{config}: (yaml, node default) differ for {different}"


@pytest.mark.parametrize("table", list(TABLES))
def test_every_setting_is_described_and_its_default_in_range(table: str) -> None:
    for name, setting in TABLES[table].items():
        assert isinstance(setting, Setting) and len(setting.description) > 10, name
        if setting.bounds is not None:
            low, high = setting.bounds
            assert low <= setting.default <= high, name
        if setting.choices:
            assert setting.default in setting.choices, name
