"""bench/bench_gpu.py runs its whole path at toy size on the CPU (--tiny) and reports every
figure it would report on a GPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_gpu_tiny_reports_its_figures(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "bench_gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.main(["--tiny", "--json", str(tmp_path / "figures.json")])
    assert json.loads((tmp_path / "figures.json").read_text()) == report
    assert report["precision.ok"] is True
    for cache in ("no_reuse", "reuse_0.95"):
        assert report[f"tiny.chunk_s.steps_3.{cache}"] > 0
        assert 2 <= report[f"tiny.evaluations.steps_3.{cache}"] <= 3
    assert report["tiny.evaluations.steps_3.no_reuse"] == 3
    assert report["tiny.step_s.guidance_batched"] > 0 and report["skipped"] == []
