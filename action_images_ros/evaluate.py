"""Evaluate a checkpoint: closed-loop success per task next to the scripted expert's, and the
model's action-labeling error and open-loop policy error on held-out demonstrations.

    action-images evaluate --checkpoint runs/small/model --tasks reach pick --seeds 50 \\
        [--first-seed 1000] [--held-out episodes_held_out/] [--out outputs/eval]

Closed loop: the demo (`action_images_ros.demo`) with `--checkpoint`, i.e. the sim node, the
policy node running the model and the labeling node over ROS 2, on seeds the training
demonstrations did not use (`--first-seed`). The expert's success is measured on the same
seeds in the sim directly (it is the reference, not under test). Labeling: each held-out
episode (label-bag output) is cut into windows of the model's frames; the model labels them
(action-labeling mode) and the decoded actions are compared with the recorded ones; and from
every step the policy predicts a chunk, whose end is compared with where the demonstration was.
Writes `evaluation.json` and `success.png` (model versus expert per task).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from action_images_ros.core.chunk_execution import MERGE_MODES
from action_images_ros.data.episode import find_episodes, read_episode
from action_images_ros.data.windows import disjoint, timed_windows
from action_images_ros.sim.experts import run_episode
from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.scene import SceneConfig, default_cameras
from action_images_ros.sim.tasks import make_task


def expert_success(tasks: Sequence[str], seeds: Sequence[int], size: int) -> dict[str, float]:
    """The scripted expert's success rate per task over `seeds`."""
    sim = PandaSim(SceneConfig(cameras=default_cameras(size, size)))
    rates = {}
    try:
        for name in tasks:
            task = make_task(name)
            outcomes = [
                run_episode(sim, task, seed).success
                for seed in tqdm(seeds, desc=f"expert {name}", unit="episode")
            ]
            rates[name] = sum(outcomes) / len(outcomes)
    finally:
        sim.close()
    return rates


def labeling_error(checkpoint: Path, episodes: Path, inference_steps: int) -> dict[str, float]:
    """Mean position (mm) and rotation (deg) error and gripper accuracy of the model's
    action labels on the valid decoded steps of every window of every episode in `episodes`."""
    from action_images_ros.model.labeling import ModelLabeler
    from action_images_ros.model.loading import load_model_directory

    model = load_model_directory(checkpoint)
    labeler = ModelLabeler(model, num_inference_steps=inference_steps)
    c = model.config
    position, rotation, gripper, decoded, total, skipped = [], [], [], 0, 0, 0
    paths = find_episodes(episodes)
    if not paths:
        raise FileNotFoundError(f"no episodes (directories with meta.json) in {episodes}")
    for path in tqdm(paths, desc="labeling held-out episodes", unit="episode"):
        episode = read_episode(path)
        windows = timed_windows(episode.timestamps, c.frames, c.frame_interval, fps=episode.fps)
        skipped += windows.skipped
        for steps in disjoint(windows.steps):
            window = labeler.label(episode.rgb[steps], episode.intrinsics, episode.extrinsics)
            valid = window.valid
            total, decoded = total + len(steps), decoded + int(valid.sum())
            labeled = steps[valid]
            truth = Rotation.from_quat(episode.quaternions[labeled])
            turn = Rotation.from_matrix(window.rotations[valid]) * truth.inv()
            offset = window.positions[valid] - episode.positions[labeled]
            position += list(np.linalg.norm(offset, axis=1))
            rotation += list(np.degrees(turn.magnitude()))
            gripper += list((window.gripper[valid] > 0.5) == (episode.gripper[labeled] > 0.5))
    return {
        "steps": total,
        "windows_skipped_for_time_gaps": skipped,
        "decoded_fraction": decoded / max(total, 1),
        "position_error_mm": float(1e3 * np.mean(position)) if position else float("nan"),
        "rotation_error_deg": float(np.mean(rotation)) if rotation else float("nan"),
        "gripper_accuracy": float(np.mean(gripper)) if gripper else float("nan"),
    }


def policy_error(checkpoint: Path, episodes: Path, inference_steps: int) -> dict[str, dict]:
    """Open-loop policy error per task on held-out episodes: from each step's observation, the
    distance of the chunk's last decoded position to where the demonstration was then, next to
    the distance of standing still (the error of a policy that does nothing)."""
    from action_images_ros.core.policy import Observation
    from action_images_ros.model.policy import VideoActionPolicy

    policy = VideoActionPolicy.from_pretrained(checkpoint, num_inference_steps=inference_steps)
    ahead = policy.model.config.frames - 1
    errors: dict[str, dict[str, list[float]]] = {}
    paths = find_episodes(episodes)
    for path in tqdm(paths, desc="policy on held-out episodes", unit="episode"):
        episode = read_episode(path)
        task = episode.meta.get("task", "")
        policy.set_task(task if policy.knows_tasks else "")
        windows = timed_windows(
            episode.timestamps, ahead + 1, policy.frame_interval, fps=episode.fps
        )
        record = errors.setdefault(task, {"model": [], "standing_still": []})
        for t, last in windows.steps[:, [0, -1]]:
            chunk = policy.predict(
                Observation(
                    stamp=0.0,
                    images=episode.rgb[t],
                    intrinsics=episode.intrinsics,
                    extrinsics=episode.extrinsics,
                    joint_positions=np.zeros(7),
                    ee_position=episode.positions[t],
                    ee_quaternion=episode.quaternions[t],
                    gripper_openness=float(episode.gripper[t]),
                )
            )
            truth = episode.positions[last]
            record["model"].append(float(np.linalg.norm(chunk.positions[-1] - truth)))
            record["standing_still"].append(float(np.linalg.norm(episode.positions[t] - truth)))
    return {
        task: {
            "windows": len(e["model"]),
            "model_mm": 1e3 * float(np.mean(e["model"])),
            "standing_still_mm": 1e3 * float(np.mean(e["standing_still"])),
        }
        for task, e in errors.items()
    }


def plot_success(model: dict[str, float], expert: dict[str, float], path: Path) -> None:
    """Bars of the model's and the expert's success rate per task, to `path`."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display

    tasks = list(model)
    x = np.arange(len(tasks))
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.bar(x - 0.2, [model[t] for t in tasks], 0.4, label="model (closed loop, ROS 2)")
    axes.bar(x + 0.2, [expert[t] for t in tasks], 0.4, label="scripted expert")
    axes.set_xticks(x, tasks)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("success rate")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--tasks", nargs="+", default=["reach", "pick"])
    parser.add_argument("--seeds", type=int, default=50, help="episodes per task")
    parser.add_argument("--first-seed", type=int, default=1000, help="held-out seeds start here")
    parser.add_argument("--held-out", type=Path, help="episodes for the labeling error")
    parser.add_argument(
        "--size", type=int, default=64, help="camera image size (64: the sim demonstrations')"
    )
    parser.add_argument("--real-time-factor", type=float, default=1.0)
    parser.add_argument(
        "--inference-steps", type=int, default=5, help="denoising steps per chunk (5: as evaluated)"
    )
    parser.add_argument(
        "--chunk-merge",
        choices=MERGE_MODES,
        default="crossfade",
        help="how the policy node joins a new chunk to the plan (inpaint: the model continues "
        "the steps that execute while it runs)",
    )
    parser.add_argument("--max-duration", type=float, default=0.0, help="sim s per episode")
    parser.add_argument("--out", type=Path, default=Path("outputs/eval"))
    args = parser.parse_args(argv)

    from action_images_ros import demo  # ROS 2 only for the closed loop

    closed_loop = args.out / "closed_loop"
    demo.main(
        [
            "--checkpoint",
            str(args.checkpoint),
            "--tasks",
            *args.tasks,
            "--episodes",
            str(args.seeds),
            "--first-seed",
            str(args.first_seed),
            "--size",
            str(args.size),
            "--real-time-factor",
            str(args.real_time_factor),
            "--inference-steps",
            str(args.inference_steps),
            "--out",
            str(closed_loop),
            "--max-duration",
            str(args.max_duration),
            "--chunk-merge",
            args.chunk_merge,
        ]
    )
    report = json.loads((closed_loop / "report.json").read_text())
    model = {task: result["success_rate"] for task, result in report["per_task"].items()}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    expert = expert_success(args.tasks, seeds, args.size)
    evaluation = {
        "checkpoint": str(args.checkpoint),
        "seeds": [seeds.start, seeds.stop - 1],
        "real_time_factor": args.real_time_factor,
        "chunk_merge": args.chunk_merge,
        "success": {t: {"model": model[t], "expert": expert[t]} for t in args.tasks},
        "inference_latency_s": report.get("inference_latency_s"),
    }
    if args.held_out:
        evaluation["labeling"] = labeling_error(
            args.checkpoint, args.held_out, args.inference_steps
        )
        evaluation["open_loop_policy"] = policy_error(
            args.checkpoint, args.held_out, args.inference_steps
        )
    (args.out / "evaluation.json").write_text(json.dumps(evaluation, indent=2) + "\n")
    plot_success(model, expert, args.out / "success.png")
    for task in args.tasks:
        print(
            f"{task}: model {model[task]:.0%}, expert {expert[task]:.0%} "
            f"over {args.seeds} seeds from {args.first_seed}"
        )
    if "labeling" in evaluation:
        lab = evaluation["labeling"]
        print(
            f"labeling: {lab['position_error_mm']:.1f} mm, {lab['rotation_error_deg']:.1f} deg, "
            f"gripper {lab['gripper_accuracy']:.0%}, {lab['decoded_fraction']:.0%} decoded"
        )
    for task, error in evaluation.get("open_loop_policy", {}).items():
        print(
            f"open loop {task or 'all'}: {error['model_mm']:.0f} mm from the demonstration "
            f"(standing still: {error['standing_still_mm']:.0f} mm)"
        )
    print(f"evaluation in {args.out}/")


if __name__ == "__main__":
    main()
