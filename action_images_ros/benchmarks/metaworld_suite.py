"""`action-images benchmark metaworld`: the project's policy on Meta-World, next to its experts.

    action-images benchmark metaworld [--tasks reach push ...] [--demos 10] [--seeds 50] \\
        [--config small] [--train-steps 2000] [--out outputs/metaworld] [--rosbag] [--quick]

1. Records `--demos` successful scripted-expert demonstrations per task (seeds from 0; a seed
   whose expert fails is skipped) as the project's episodes (data.episode), three fixed cameras;
   with `--rosbag` as rosbag2 recordings first, labeled by label-bag's pipeline.
2. Trains one task-conditioned model on all tasks together (model.train, a preset).
3. Evaluates every task closed loop over `--seeds` seeds from `--first-seed` (1000: no
   demonstration used them), and the expert on the same seeds.
4. Writes `report.json` and `report.md` (success per task next to the expert's, the mean, the
   seeds, the training budget, the inference time per chunk), `success.png` (a bar plot) and
   `videos/<task>.mp4` (the views with the action images and path of each chunk drawn over).

`--model DIR` evaluates an existing model instead of training one (it must know the views and
tasks asked for); `--quick` is a seconds-long run of the whole pipeline (a tiny model, a couple
of seeds, short episodes) for tests. Runs in the Meta-World environment
(scripts/metaworld_env/setup_env.sh; see docs/metaworld.md).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from action_images_ros.core.cameras import CameraError
from action_images_ros.sim.metaworld_adapter import (
    DEFAULT_CAMERAS,
    MT10,
    MetaWorldError,
    MetaWorldScene,
    require_metaworld,
    task_name,
)

if TYPE_CHECKING:  # the model stack is imported only when a run needs it
    from action_images_ros.model.policy import VideoActionPolicy

QUICK = {
    "config": "tiny",
    "demos": 1,
    "seeds": 2,
    "train_steps": 2,
    "size": 32,
    "max_steps": 16,
    "batch_size": 2,
    "inference_steps": 1,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="action-images benchmark metaworld", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--tasks", nargs="+", default=list(MT10), help="default: MT10")
    parser.add_argument("--demos", type=int, default=10, help="demonstrations per task")
    parser.add_argument("--seeds", type=int, default=50, help="evaluation episodes per task")
    parser.add_argument("--first-seed", type=int, default=1000, help="first evaluation seed")
    parser.add_argument("--cameras", nargs="+", default=list(DEFAULT_CAMERAS))
    parser.add_argument("--size", type=int, default=128, help="rendered image width and height")
    parser.add_argument(
        "--frame-stride", type=int, default=4, help="environment steps (1/80 s) between frames"
    )
    parser.add_argument(
        "--config", default="small", help="model preset (model.config: tiny, small)"
    )
    parser.add_argument("--train-steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--inference-steps", type=int, default=5, help="denoising steps")
    parser.add_argument("--max-steps", type=int, help="environment steps per evaluation episode")
    parser.add_argument("--model", type=Path, help="evaluate this model directory, no training")
    parser.add_argument("--video-episodes", type=int, default=1, help="videos per task")
    parser.add_argument("--out", type=Path, default=Path("outputs/metaworld"))
    parser.add_argument(
        "--rosbag",
        action="store_true",
        help="record the demonstrations as rosbag2 (out/bags) and label them with label-bag's "
        "pipeline, as a real robot's recordings are",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a seconds-long run, for tests (changes the settings left at their defaults)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    for name in ("demos", "seeds", "train_steps", "frame_stride", "size", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    try:
        require_metaworld()
        args.tasks = list(dict.fromkeys(task_name(t) for t in args.tasks))
    except MetaWorldError as error:
        parser.error(str(error))
    from action_images_ros.model.config import PRESETS

    if args.model is None and args.config not in PRESETS:
        parser.error(
            f"--config {args.config!r} is no preset; presets: {', '.join(sorted(PRESETS))}"
        )
    return args


def record_all(
    args: argparse.Namespace, scenes: dict[str, MetaWorldScene], episodes: Path
) -> dict[str, list[int]]:
    """`args.demos` successful expert demonstrations per task (episodes already in
    `episodes` are kept: an interrupted run resumes); with `args.rosbag` each is recorded as a
    bag under out/bags and labeled from it. Returns the seeds used."""
    from action_images_ros.benchmarks.metaworld_bags import (
        label_demonstration,
        record_demonstration_bag,
    )
    from action_images_ros.benchmarks.metaworld_rollouts import record_demonstration

    def record(scene: MetaWorldScene, seed: int, path: Path) -> bool:
        if not args.rosbag:
            return record_demonstration(scene, seed, path, args.frame_stride)[0]
        bag = args.out / "bags" / scene.task / path.name
        if (
            not bag.is_dir()
            and not record_demonstration_bag(scene, seed, bag, args.frame_stride)[0]
        ):
            return False
        label_demonstration(bag, path, scene, args.frame_stride, seed)
        return True

    used: dict[str, list[int]] = {}
    for task, scene in scenes.items():
        seeds, seed = [], 0
        while len(seeds) < args.demos:
            if seed >= args.first_seed:
                raise MetaWorldError(
                    f"the {task} expert failed too often: {len(seeds)} demonstrations from "
                    f"seeds below the first evaluation seed {args.first_seed}"
                )
            path = episodes / task / f"seed{seed:04d}"
            if (path / "meta.json").is_file() or record(scene, seed, path):
                seeds.append(seed)
            seed += 1
        used[task] = seeds
        print(f"{task}: {len(seeds)} demonstrations (seeds {seeds[0]}..{seeds[-1]})")
    return used


def train_model(args: argparse.Namespace, episodes: Path, interval: float) -> tuple[Path, float]:
    """Train the task-conditioned model on every task's episodes; (model dir, seconds)."""
    from action_images_ros.model import train

    began = time.perf_counter()
    train.main(
        [
            "--config",
            args.config,
            "--episodes",
            str(episodes),
            "--out",
            str(args.out / "training"),
            "--views",
            str(len(args.cameras)),
            "--frame-interval",
            str(interval),
            "--steps",
            str(args.train_steps),
            "--batch-size",
            str(args.batch_size),
            "--num-tasks",
            str(len(args.tasks) + 1),
            "--balance-tasks",
            "--cpu",
            "--warmup",
            str(max(1, min(100, args.train_steps // 10))),
            "--checkpoint-every",
            str(args.train_steps),
        ]
    )
    return args.out / "training" / "model", time.perf_counter() - began


def load_policy(path: Path, args: argparse.Namespace) -> VideoActionPolicy:
    """The policy of model directory `path`, refused (naming what differs) where it was built
    for other cameras or does not know a task asked for."""
    from action_images_ros.model.policy import VideoActionPolicy

    policy = VideoActionPolicy.from_pretrained(path, num_inference_steps=args.inference_steps)
    views = list(policy.policy_config.views)
    if views != list(args.cameras):
        raise MetaWorldError(
            f"the model at {path} was trained for the views {views}, not {list(args.cameras)}: "
            f"pass --cameras {' '.join(views)}, or train for these cameras"
        )
    missing = [t for t in args.tasks if t not in policy.tasks]
    if missing:
        known = ", ".join(t for t in policy.tasks if t) or "none"
        raise MetaWorldError(f"the model at {path} knows no task {missing} (its tasks: {known})")
    return policy


def evaluate(
    args: argparse.Namespace,
    policy: VideoActionPolicy,
    scenes: dict[str, MetaWorldScene],
) -> dict[str, dict]:
    """Success of the policy and of the expert per task over the evaluation seeds."""
    from action_images_ros.benchmarks.metaworld_rollouts import evaluate_task

    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    results = {}
    for task, scene in scenes.items():
        policy.set_task(task)
        results[task] = evaluate_task(
            scene, policy, seeds, args.frame_stride, args.max_steps, args.video_episodes, args.out
        )
        expert = results[task]["expert_success"]
        print(
            f"{task}: policy {results[task]['success']:.0%}, expert {expert:.0%} "
            f"over seeds {seeds[0]}..{seeds[-1]}"
        )
    return results


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(results)
    x = np.arange(len(tasks))
    figure, axes = plt.subplots(figsize=(max(5, 0.9 * len(tasks) + 2), 3.8))
    axes.bar(x - 0.2, [results[t]["success"] for t in tasks], 0.4, label="Action Images policy")
    axes.bar(x + 0.2, [results[t]["expert_success"] for t in tasks], 0.4, label="scripted expert")
    axes.set_xticks(x, tasks, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("success rate")
    axes.set_title("Meta-World, same seeds")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(report: dict, out: Path) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Meta-World benchmark",
        "",
        f"Seeds {report['evaluation_seeds'][0]}..{report['evaluation_seeds'][1]} per task; "
        f"{report['demonstrations_per_task']} demonstrations per task; model {report['model']}; "
        f"training {report['training_s']:.0f} s ({report['training_steps']} steps).",
        "",
        "| task | policy | expert | s per chunk |",
        "| --- | --- | --- | --- |",
    ]
    for task, result in report["tasks"].items():
        lines.append(
            f"| {task} | {result['success']:.0%} | {result['expert_success']:.0%} | "
            f"{result['inference_s_per_chunk']:.3f} |"
        )
    lines.append(
        f"| mean | {report['mean_success']:.0%} | {report['mean_expert_success']:.0%} "
        f"| {report['inference_s_per_chunk']:.3f} |"
    )
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from action_images_ros.benchmarks.metaworld_rollouts import frame_interval

    args.out.mkdir(parents=True, exist_ok=True)
    scenes: dict[str, MetaWorldScene] = {}
    try:
        # A given model is checked before anything is built: a wrong one fails at once.
        policy = None if args.model is None else load_policy(args.model, args)
        for task in args.tasks:
            scenes[task] = MetaWorldScene(task, args.cameras, args.size, args.size)
        interval = frame_interval(scenes[args.tasks[0]], args.frame_stride)
        demo_seeds: dict[str, list[int]] = {}
        training_s = 0.0
        model = args.model
        if policy is None:
            demo_seeds = record_all(args, scenes, args.out / "episodes")
            model, training_s = train_model(args, args.out / "episodes", interval)
            policy = load_policy(model, args)
        if abs(policy.frame_interval - interval) > 1e-6:
            raise MetaWorldError(
                f"the model steps {policy.frame_interval} s apart, --frame-stride "
                f"{args.frame_stride} gives {interval} s"
            )
        results = evaluate(args, policy, scenes)
    except (MetaWorldError, CameraError) as error:
        raise SystemExit(f"action-images benchmark metaworld: {error}") from error
    finally:
        for scene in scenes.values():
            scene.close()
    chunks = sum(r["chunks"] for r in results.values())
    report = {
        "suite": "MT10" if args.tasks == list(MT10) else "custom",
        "tasks": results,
        "cameras": list(args.cameras),
        "image_size": args.size,
        "frame_interval_s": interval,
        "model": str(model),
        "preset": args.config,
        "demonstrations_per_task": args.demos,
        "demonstrations_via": "rosbag2 + label-bag" if args.rosbag else "episodes",
        "demonstration_seeds": demo_seeds,
        "evaluation_seeds": [args.first_seed, args.first_seed + args.seeds - 1],
        "max_steps": args.max_steps,
        "training_steps": args.train_steps if args.model is None else None,
        "training_s": training_s,
        "inference_steps": args.inference_steps,
        "mean_success": float(np.mean([r["success"] for r in results.values()])),
        "mean_expert_success": float(np.mean([r["expert_success"] for r in results.values()])),
        "inference_s_per_chunk": float(
            sum(r["inference_s_per_chunk"] * r["chunks"] for r in results.values()) / chunks
        ),
    }
    write_report(report, args.out)
    plot(results, args.out / "success.png")
    print(
        f"mean success {report['mean_success']:.0%} (expert {report['mean_expert_success']:.0%});"
        f" report in {args.out}/"
    )
    return 0
