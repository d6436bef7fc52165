"""Simulation speed, scripted-expert success and recording throughput.

    scripts/bootstrap.sh -- python bench/bench_sim.py [--seeds 100] [--quick]

Prints: physics + 3-camera render rate at 128x128 and 256x256 (camera sets per second and the
real-time factor at a 10 Hz camera rate with 50 Hz control), the scripted experts' success over
`--seeds` seeds per task, IK time, and rosbag2 recording throughput.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from action_images_ros.core.rotations import matrix_to_quat
from action_images_ros.record_demos import record_episode
from action_images_ros.sim.experts import run_episode
from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.scene import SceneConfig, default_cameras
from action_images_ros.sim.tasks import make_task


def render_rate(size: int, seconds: float) -> tuple[float, float]:
    """Camera sets per second and real-time factor: 0.1 s of physics + one 3-camera render."""
    sim = PandaSim(SceneConfig(cameras=default_cameras(size, size)))
    sim.render()
    sets, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(5):
            sim.step(0.02)
        sim.render()
        sets += 1
    elapsed = time.perf_counter() - start
    sim.close()
    return sets / elapsed, sets * 0.1 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="10 seeds, shorter timings")
    args = parser.parse_args()
    seeds = 10 if args.quick else args.seeds
    seconds = 2.0 if args.quick else 5.0

    for size in (128, 256):
        rate, factor = render_rate(size, seconds)
        print(
            f"3 cameras at {size}x{size}: {rate:6.1f} camera sets/s, real-time factor {factor:5.2f}"
        )

    sim = PandaSim(SceneConfig(cameras=default_cameras(64, 64)))
    for name in ("reach", "pick", "place"):
        task = make_task(name)
        results = [
            run_episode(sim, task, seed) for seed in tqdm(range(seeds), desc=name, leave=False)
        ]
        successes = sum(r.success for r in results)
        print(f"expert {name:>5}: {successes}/{seeds} successes ({successes / seeds:.0%})")

    chain, rng, home = sim.chain, np.random.default_rng(0), np.asarray(sim.config.home_q)
    # Reachable targets around the working pose, solved from the home pose.
    targets = [
        chain.fk(np.clip(home + rng.uniform(-0.4, 0.4, 7), chain.lower, chain.upper))
        for _ in range(50)
    ]
    start = time.perf_counter()
    converged = sum(chain.inverse_kinematics(t[:3, 3], _quat(t), home).converged for t in targets)
    print(
        f"IK (targets within 0.4 rad per joint of home): "
        f"{1e3 * (time.perf_counter() - start) / 50:.2f} ms per solve, {converged}/50 converged"
    )
    sim.close()

    sim = PandaSim(SceneConfig(cameras=default_cameras(128, 128)))
    out = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    sizes = 0
    for seed in range(3 if args.quick else 10):
        record_episode(sim, "pick", seed, out / f"pick{seed}")
        sizes += sum(f.stat().st_size for f in (out / f"pick{seed}").iterdir())
    elapsed = time.perf_counter() - start
    print(
        f"recording (pick, 3 x 128x128 at 10 Hz): {sizes / 2**20 / elapsed:.1f} MiB/s of bag, "
        f"{elapsed / (3 if args.quick else 10):.2f} s per episode including simulation"
    )
    sim.close()


def _quat(pose: np.ndarray) -> np.ndarray:
    return matrix_to_quat(pose[:3, :3])


if __name__ == "__main__":
    main()
