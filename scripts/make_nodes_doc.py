"""Write docs/nodes.md: each node's topics and services (scripts/nodes_doc/<node>.md), and its
parameters generated from the declarations in action_images_ros/nodes/parameters.py (the
ones the nodes declare).

    scripts/bootstrap.sh -- python scripts/make_nodes_doc.py          # rewrite docs/nodes.md
    scripts/bootstrap.sh -- python scripts/make_nodes_doc.py --check  # exit 1 if it is stale

test/unit/test_nodes_doc.py fails when docs/nodes.md differs from what this writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from action_images_ros.nodes.parameters import (
    LABELING_PARAMETERS,
    POLICY_PARAMETERS,
    SIM_PARAMETERS,
    Setting,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "nodes.md"

# Each node's prose and topic tables (hand-written Markdown), then its generated parameters.
TEXT = Path(__file__).resolve().parent / "nodes_doc"
NODES: list[tuple[str, dict[str, Setting]]] = [
    ("sim_node", SIM_PARAMETERS),
    ("policy_node", POLICY_PARAMETERS),
    ("labeling_node", LABELING_PARAMETERS),
]


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"`'{value}'`" if value == "" else f"`{value}`"
    return f"`{value}`"


def _allowed(setting: Setting) -> str:
    if setting.choices:
        return ", ".join(f"`{choice}`" for choice in setting.choices)
    if setting.bounds is not None:
        low, high = setting.bounds
        return f"{low:g} .. {high:g}"
    return ""


def parameter_table(parameters: dict[str, Setting]) -> str:
    """A Markdown table of `parameters`: name, default, allowed values, runtime, meaning."""
    rows = [
        "| parameter | default | allowed | runtime | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, setting in parameters.items():
        description = setting.description.replace("|", "\\|")
        runtime = "" if setting.read_only else "yes"
        rows.append(
            f"| `{name}` | {_value(setting.default)} | {_allowed(setting)} | {runtime} | "
            f"{description} |"
        )
    return "\n".join(rows) + "\n"


def render() -> str:
    """The whole of docs/nodes.md."""
    parts = [(TEXT / "header.md").read_text()]
    for name, parameters in NODES:
        text = (TEXT / f"{name}.md").read_text()
        parts += [f"\n## `{name}`\n\n", text, "\nParameters:\n\n", parameter_table(parameters)]
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/nodes.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = DOC.read_text() if DOC.is_file() else ""
        if current != text:
            sys.exit(f"{DOC} is stale: run scripts/make_nodes_doc.py")
        return
    DOC.write_text(text)
    print(DOC)


if __name__ == "__main__":
    main()
