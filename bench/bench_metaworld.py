"""Meta-World adapter speed and the scripted experts' success on the evaluation seeds.

    PYTHONPATH=$PWD ~/.cache/action_images_ros/metaworld-venv/bin/python bench/bench_metaworld.py \
        [--tasks reach pick-place ...] [--seeds 50] [--size 128]

Runs in the Meta-World environment (scripts/metaworld_env/setup_env.sh). Prints: the time of one
render of the three default cameras, environment steps per second without rendering, the time
to record one expert demonstration as an episode, and the experts' success over `--seeds`
seeds from 1000 (the benchmark's evaluation seeds) per task, with their mean.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from action_images_ros.benchmarks.metaworld_rollouts import expert_success, record_demonstration
from action_images_ros.sim.metaworld_adapter import MT10, MetaWorldScene, task_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(MT10))
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    tasks = [task_name(t) for t in args.tasks]

    scene = MetaWorldScene(tasks[0], width=args.size, height=args.size)
    scene.reset(0)
    scene.render()  # the first render sets up the context
    began = time.perf_counter()
    for _ in range(20):
        scene.render()
    render = (time.perf_counter() - began) / 20
    began, steps = time.perf_counter(), 0
    while steps < 400:
        scene.step(np.array([0.1, 0.0, 0.0, -1.0]))
        steps += 1
    rate = steps / (time.perf_counter() - began)
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        _, demo_steps = record_demonstration(scene, 0, Path(folder) / "demo", frame_stride=4)
        record = time.perf_counter() - began
    scene.close()
    print(f"render, 3 views at {args.size} px: {1e3 * render:.1f} ms")
    print(f"environment steps without rendering: {rate:.0f} per second (80 per simulated second)")
    print(f"one {tasks[0]} demonstration ({demo_steps} steps) as an episode: {record:.2f} s")

    rates = {}
    seeds = list(range(1000, 1000 + args.seeds))
    for task in tasks:
        scene = MetaWorldScene(task, width=32, height=32)
        rates[task] = expert_success(scene, seeds)
        scene.close()
        print(f"expert {task}: {rates[task]:.0%} over seeds {seeds[0]}..{seeds[-1]}")
    print(f"expert mean: {np.mean(list(rates.values())):.1%}")


if __name__ == "__main__":
    main()
