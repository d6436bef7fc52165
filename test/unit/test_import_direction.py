"""Imports point one way: core at the bottom; sim, data, model on it; the ROS nodes above; the
commands on top (docs/architecture.md). Every module's imports are read with ast (including
those inside functions), so a lazy import against the direction fails too."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "action_images_ros"

# The layer of each part of the package and the layers it may import. `msg` and `srv` are the
# generated interfaces. Commands (the `action-images` subcommands) may import any layer.
COMMANDS = ("benchmarks", "cli", "demo", "evaluate", "label_bag", "record_demos")
MAY_IMPORT: dict[str, set[str]] = {
    "core": {"core"},
    "sim": {"core", "sim"},
    "data": {"core", "data"},
    "model": {"core", "data", "model"},  # the model trains on and evaluates data's episodes
    "nodes": {"core", "sim", "model", "nodes", "msg", "srv"},
    "launch_support": set(),
    "checkpoints": set(),
}
# Modules that only some commands need: a module listed here must not load them at import.
HEAVY = ("torch", "diffusers", "mujoco", "transformers", "rclpy")
LIGHT_MODULES = (
    "action_images_ros.core.calibration",
    "action_images_ros.core.kinematics",
    "action_images_ros.core.policy",
    "action_images_ros.core.robot_assets",
    "action_images_ros.core.rotations",
    "action_images_ros.core.safety",
    "action_images_ros.core.synchronizer",
    "action_images_ros.data.bag_reader",
    "action_images_ros.data.windows",
    "action_images_ros.cli",
)


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of the package in `path`."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
    return [(line, name) for line, name in found if name.split(".")[0] == "action_images_ros"]


def _part(module: str) -> str:
    """The layer part of a package module: `action_images_ros.sim.tasks` -> `sim`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations(package: Path) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        module = _module_name(path, package)
        part = _part(module)
        if part in COMMANDS or part == "":
            continue
        if part not in MAY_IMPORT:
            problems.append(f"{module}: not in a declared layer (add it to MAY_IMPORT)")
            continue
        for line, target in _imports(path, package):
            target_part = _part(target)
            if target_part == "":
                problems.append(f"{module}:{line} imports the package root")
            elif target_part not in MAY_IMPORT[part]:
                problems.append(f"{module}:{line} imports {target} ({part} -> {target_part})")
    return problems


def test_imports_follow_the_layer_order() -> None:
    assert _violations(PACKAGE) == []


def test_the_check_finds_an_import_against_the_direction(tmp_path: Path) -> None:
    fake = tmp_path / "action_images_ros"
    (fake / "data").mkdir(parents=True)
    (fake / "core").mkdir()
    (fake / "data" / "reader.py").write_text(
        "def read():\n    from ..model.policy import VideoActionPolicy\n"
    )
    (fake / "core" / "geometry.py").write_text("import action_images_ros.sim.scene\n")
    problems = _violations(fake)
    assert problems == [
        "action_images_ros.core.geometry:1 imports action_images_ros.sim.scene (core -> sim)",
        "action_images_ros.data.reader:2 imports action_images_ros.model.policy (data -> model)",
    ]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_modules_load_no_heavy_dependency(module: str) -> None:
    script = (
        f"import importlib, json, sys\nimportlib.import_module({module!r})\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []
