"""The example robot configs (config/robots/) set only parameters the policy node declares.

config/policy_sim.yaml lists every parameter the node declares with its default
(test_config_files checks that), so it is the reference for names and types here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
ROBOT_CONFIGS = sorted((ROOT / "config" / "robots").glob("*.yaml"))


def _parameters(path: Path) -> dict[str, object]:
    return yaml.safe_load(path.read_text())["policy"]["ros__parameters"]


def test_there_are_examples_for_a_panda_a_ur_and_an_xarm() -> None:
    assert {p.stem for p in ROBOT_CONFIGS} >= {"franka_panda", "ur5e", "xarm7"}


@pytest.mark.parametrize("path", ROBOT_CONFIGS, ids=lambda p: p.name)
def test_every_key_is_a_declared_parameter_of_the_same_type(path: Path) -> None:
    declared = _parameters(ROOT / "config" / "policy_sim.yaml")
    example = _parameters(path)
    unknown = sorted(set(example) - set(declared))
    assert not unknown, f"{path.name}: the policy node declares no {unknown}"
    for name, value in example.items():
        default = declared[name]
        kind = float if isinstance(default, float) else type(default)
        assert isinstance(value, kind) or (kind is float and type(value) is int), (
            f"{path.name}: {name} is {value!r}, the node's parameter is a {kind.__name__}"
        )


@pytest.mark.parametrize("path", ROBOT_CONFIGS, ids=lambda p: p.name)
def test_limits_name_every_joint_and_the_arm_starts_in_dry_run(path: Path) -> None:
    example = _parameters(path)
    joints = example["joint_names"]
    for name in ("joint_acceleration_limits", "joint_jerk_limits"):
        limits = example[name]
        assert len(limits) == len(joints), f"{path.name}: {name} has {len(limits)} values"
        assert all(limit > 0 for limit in limits), f"{path.name}: {name} must be positive"
    assert example["enable_control"] is False
    assert example["use_sim_time"] is False
    low, high = example["workspace_min"], example["workspace_max"]
    assert all(a < b for a, b in zip(low, high, strict=True))
