"""Evaluate the trained LeRobot Diffusion Policy on Meta-World through the project's adapter.

    PYTHONPATH=$PWD $DP/bin/python scripts/metaworld_baseline/evaluate_dp.py \\
        --model outputs/metaworld/dp_baseline --ours outputs/metaworld/report.json \\
        [--tasks ...] [--seeds 50] [--first-seed 1000] [--max-steps N] [--out DIR]

Every task runs closed loop from each seed through `MetaWorldScene` exactly as the benchmark
runs the project's policy (benchmarks/metaworld_rollouts.run_policy_episode: observe, predict a
chunk, execute all of it through the command path, until success or the step limit), with the
cameras and image size the policy was trained on; the scripted expert runs on the same seeds.
Writes `report.json` / `report.md` in the benchmark report's shape (plus the training budget),
and, given `--ours` (the benchmark's report.json), `comparison.md` and `comparison.png`: both
methods and the expert per task. Without `--tasks`, `--seeds`, `--first-seed` the settings of
`--ours` are used, so the two are evaluated on the same seeds; a different camera set, image
size or frame interval from `--ours` is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from action_images_ros.benchmarks.metaworld_rollouts import evaluate_task, frame_interval
from action_images_ros.benchmarks.metaworld_suite import write_report
from action_images_ros.core.cameras import CameraError
from action_images_ros.sim.metaworld_adapter import MT10, MetaWorldError, MetaWorldScene, task_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lerobot_policy import DiffusionPolicyAdapter, LeRobotPolicyError  # noqa: E402

METHOD = "LeRobot Diffusion Policy"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="evaluate_dp.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        required=True,
        help="train_dp.py's --out (its training.json names the checkpoint) or a pretrained_model",
    )
    parser.add_argument("--ours", type=Path, help="the benchmark's report.json, to compare with")
    parser.add_argument("--tasks", nargs="+", help="default: those of --ours, else MT10")
    parser.add_argument("--seeds", type=int, help="episodes per task (default: --ours', else 50)")
    parser.add_argument("--first-seed", type=int, help="default: --ours', else 1000")
    parser.add_argument("--frame-stride", type=int, default=4, help="as the benchmark's")
    parser.add_argument(
        "--max-steps", type=int, help="environment steps per episode (default: --ours')"
    )
    parser.add_argument("--inference-steps", type=int, help="denoising steps (default: trained)")
    parser.add_argument("--video-episodes", type=int, default=1, help="videos per task")
    parser.add_argument("--out", type=Path, help="default: <model>/evaluation")
    args = parser.parse_args(argv)
    ours = json.loads(args.ours.read_text()) if args.ours else None
    args.our_report = ours
    if args.tasks is None:
        args.tasks = list(ours["tasks"]) if ours else list(MT10)
    if args.seeds is None:
        args.seeds = ours["evaluation_seeds"][1] - ours["evaluation_seeds"][0] + 1 if ours else 50
    if args.max_steps is None and ours:
        args.max_steps = ours.get("max_steps")
    if args.first_seed is None:
        args.first_seed = ours["evaluation_seeds"][0] if ours else 1000
    if args.seeds < 1 or args.frame_stride < 1:
        parser.error("--seeds and --frame-stride must be at least 1")
    try:
        args.tasks = list(dict.fromkeys(task_name(t) for t in args.tasks))
    except MetaWorldError as error:
        parser.error(str(error))
    training = args.model / "training.json"
    args.training = json.loads(training.read_text()) if training.is_file() else None
    args.checkpoint = Path(args.training["checkpoint"]) if args.training else args.model
    args.out = args.out or args.model / "evaluation"
    return args


def check_same_setting(args: argparse.Namespace, policy: DiffusionPolicyAdapter, interval: float):
    """Refuse a comparison with a report made with other cameras, image size or frame rate."""
    ours = args.our_report
    if ours is None:
        return
    differs = []
    if list(ours["cameras"]) != policy.cameras:
        differs.append(f"cameras {ours['cameras']} (the policy's: {policy.cameras})")
    if ours["image_size"] != policy.width or policy.width != policy.height:
        differs.append(f"image size {ours['image_size']} (the policy's: {policy.width})")
    if abs(ours["frame_interval_s"] - interval) > 1e-6:
        differs.append(f"frame interval {ours['frame_interval_s']} s (here: {interval} s)")
    if differs:
        raise LeRobotPolicyError(f"{args.ours} was made with other settings: {'; '.join(differs)}")


def evaluate(args: argparse.Namespace, policy: DiffusionPolicyAdapter) -> dict[str, dict]:
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    results = {}
    for task in args.tasks:
        scene = MetaWorldScene(task, policy.cameras, policy.width, policy.height)
        try:
            interval = frame_interval(scene, args.frame_stride)
            if abs(interval - policy.frame_interval) > 1e-9:
                raise LeRobotPolicyError(
                    f"frame interval {interval} s, expected {policy.frame_interval}"
                )
            results[task] = evaluate_task(
                scene,
                policy,
                seeds,
                args.frame_stride,
                args.max_steps,
                args.video_episodes,
                args.out,
            )
        finally:
            scene.close()
        expert = results[task]["expert_success"]
        print(
            f"{task}: DP {results[task]['success']:.0%}, expert {expert:.0%} over seeds "
            f"{seeds[0]}..{seeds[-1]}"
        )
    return results


def demonstrations(training: dict | None) -> tuple[int | dict | None, dict]:
    """Demonstrations per task of the training dataset (an int where every task has as many)."""
    if not training:
        return None, {}
    import pyarrow.parquet as pq

    root = Path(training["dataset"]["path"])
    counts: dict[str, int] = {}
    for file in sorted((root / "meta/episodes").glob("chunk-*/file-*.parquet")):
        for tasks in pq.read_table(file, columns=["tasks"]).column("tasks").to_pylist():
            counts[tasks[0]] = counts.get(tasks[0], 0) + 1
    per_task = set(counts.values())
    return (per_task.pop() if len(per_task) == 1 else counts), counts


def comparison(report: dict, ours: dict, out: Path) -> None:
    """comparison.md and comparison.png: both methods and the expert per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in report["tasks"] if t in ours["tasks"]]
    training = report["training"] or {}
    lines = [
        "# Meta-World: Action Images policy vs LeRobot Diffusion Policy (same data, same seeds)",
        "",
        f"Seeds {report['evaluation_seeds'][0]}..{report['evaluation_seeds'][1]} per task, "
        f"{report['demonstrations_per_task']} demonstrations per task, cameras "
        f"{', '.join(report['cameras'])} at {report['image_size']} px.",
        f"Action Images: preset {ours['preset']}, {ours['training_steps']} steps in "
        f"{ours['training_s']:.0f} s. Diffusion Policy: config {report['preset']}, "
        f"{report['training_steps']} steps in {report['training_s']:.0f} s "
        f"(budget {training.get('budget_minutes', '?')} min).",
        "",
        "| task | Action Images | Diffusion Policy | expert |",
        "| --- | --- | --- | --- |",
    ]
    for task in tasks:
        lines.append(
            f"| {task} | {ours['tasks'][task]['success']:.0%} | "
            f"{report['tasks'][task]['success']:.0%} | "
            f"{report['tasks'][task]['expert_success']:.0%} |"
        )
    mean = {
        name: float(np.mean([r["tasks"][t]["success"] for t in tasks]))
        for name, r in (("ours", ours), ("dp", report))
    }
    expert = float(np.mean([report["tasks"][t]["expert_success"] for t in tasks]))
    lines += [
        f"| mean | {mean['ours']:.0%} | {mean['dp']:.0%} | {expert:.0%} |",
        f"| s per chunk | {ours['inference_s_per_chunk']:.3f} | "
        f"{report['inference_s_per_chunk']:.3f} | |",
    ]
    (out / "comparison.md").write_text("\n".join(lines) + "\n")
    x = np.arange(len(tasks))
    figure, axes = plt.subplots(figsize=(max(5, 1.1 * len(tasks) + 2), 3.8))
    bars = (
        ("Action Images policy", [ours["tasks"][t]["success"] for t in tasks]),
        (METHOD, [report["tasks"][t]["success"] for t in tasks]),
        ("scripted expert", [report["tasks"][t]["expert_success"] for t in tasks]),
    )
    for offset, (label, values) in zip((-0.27, 0.0, 0.27), bars, strict=True):
        axes.bar(x + offset, values, 0.27, label=label)
    axes.set_xticks(x, tasks, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("success rate")
    axes.set_title("Meta-World, same demonstrations and seeds")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "comparison.png", dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        probe = MetaWorldScene(args.tasks[0], width=8, height=8)
        interval = frame_interval(probe, args.frame_stride)
        probe.close()
        policy = DiffusionPolicyAdapter(args.checkpoint, interval, args.inference_steps)
        check_same_setting(args, policy, interval)
        args.out.mkdir(parents=True, exist_ok=True)
        results = evaluate(args, policy)
    except (LeRobotPolicyError, MetaWorldError, CameraError) as error:
        raise SystemExit(f"evaluate_dp.py: {error}") from error
    per_task, counts = demonstrations(args.training)
    training = args.training or {}
    chunks = sum(r["chunks"] for r in results.values())
    report = {
        "method": METHOD,
        "suite": "MT10" if args.tasks == list(MT10) else "custom",
        "tasks": results,
        "cameras": policy.cameras,
        "image_size": policy.width,
        "frame_interval_s": interval,
        "model": str(args.checkpoint),
        "preset": training.get("config", "?"),
        "demonstrations_per_task": per_task,
        "demonstrations_via": "episodes, as LeRobot v3 (export-lerobot --no-action-images)",
        "demonstration_counts": counts,
        "evaluation_seeds": [args.first_seed, args.first_seed + args.seeds - 1],
        "max_steps": args.max_steps,
        "training_steps": training.get("checkpoint_step"),
        "training_s": training.get("wall_s", 0.0),
        "training": training or None,
        "inference_steps": policy.num_inference_steps,
        "mean_success": float(np.mean([r["success"] for r in results.values()])),
        "mean_expert_success": float(np.mean([r["expert_success"] for r in results.values()])),
        "inference_s_per_chunk": float(
            sum(r["inference_s_per_chunk"] * r["chunks"] for r in results.values()) / chunks
        ),
    }
    write_report(report, args.out)
    if args.our_report:
        comparison(report, args.our_report, args.out)
    print(
        f"mean success {report['mean_success']:.0%} (expert {report['mean_expert_success']:.0%});"
        f" report in {args.out}/"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
