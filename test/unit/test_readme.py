"""The README's Python example runs as written and predicts a chunk the policy node could use;
the README stays short and names the commands `.ci/run` relies on."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

from action_images_ros.model.config import DEFAULT_CHECKPOINT
from action_images_ros.sim.panda_sim import render_available

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MARKER = "<!-- test/unit/test_readme.py runs this block -->"


def test_the_readme_is_short_and_keeps_the_ci_command() -> None:
    assert len(README.encode()) <= 10_000
    assert "scripts/bootstrap.sh test" in README
    assert "exec scripts/bootstrap.sh test\n" in (ROOT / ".ci" / "run").read_text()
    for link in re.findall(r"\]\(((?:docs|scripts)/[^)#]+)\)", README):
        assert (ROOT / link).is_file(), f"README links to {link}, which does not exist"


@pytest.mark.skipif(not render_available()[0], reason=render_available()[1] or "cannot render")
@pytest.mark.skipif(not DEFAULT_CHECKPOINT.exists(), reason="no packaged default model")
def test_the_python_example_predicts_a_chunk() -> None:
    block = re.search(re.escape(MARKER) + r"\n```python\n(.*?)```", README, re.S)
    assert block is not None, "the README's example block is missing"
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 12
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(code, "README.md", "exec"), namespace)
    chunk, sim = namespace["chunk"], namespace["sim"]
    try:
        assert printed.getvalue().strip()
        assert chunk.positions.shape == (len(chunk.times), 3)
        assert np.all(np.diff(chunk.times) > 0) and chunk.valid.all()
        # a pick's first chunk keeps the gripper open and stays in the workspace near the tool
        tool = sim.ee_pose()[0]
        assert np.all(chunk.gripper_openness > 0.5)
        assert np.linalg.norm(chunk.positions[0] - tool) < 0.2
    finally:
        sim.close()
