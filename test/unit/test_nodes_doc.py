"""docs/nodes.md is generated from the parameter declarations: it must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from action_images_ros.nodes.parameters import POLICY_PARAMETERS, SIM_PARAMETERS, Setting

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_nodes_doc.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_nodes_doc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_nodes_md_is_current() -> None:
    generator = _generator()
    assert generator.DOC.read_text() == generator.render(), (
        "docs/nodes.md is stale: run scripts/make_nodes_doc.py"
    )


def test_every_declared_parameter_is_documented_with_its_default() -> None:
    table = _generator().parameter_table(POLICY_PARAMETERS | SIM_PARAMETERS)
    for name in POLICY_PARAMETERS | SIM_PARAMETERS:
        assert f"| `{name}` |" in table
    assert "| `max_tcp_speed` | `1.0` | 0.001 .. 100 |  |" in table
    assert "| `checkpoint` | `''` |  |  |" in table
    assert "| `enable_control` | false |  | yes |" in table


def test_a_changed_declaration_changes_the_table() -> None:
    generator = _generator()
    changed = {"horizon": Setting(2.5, "seconds of the plan", (0.5, 9.0), read_only=False)}
    assert generator.parameter_table(changed).splitlines()[-1] == (
        "| `horizon` | `2.5` | 0.5 .. 9 | yes | seconds of the plan |"
    )
