"""Train LeRobot's Diffusion Policy on the Meta-World benchmark's demonstrations, under a budget.

    DP=$(scripts/metaworld_baseline/setup_env.sh)
    PYTHONPATH=$PWD $DP/bin/python scripts/metaworld_baseline/train_dp.py \\
        --benchmark outputs/metaworld (--budget-minutes 60 | --same-budget-as REPORT) \\
        [--config small] [--out DIR] \\
        [-- extra lerobot-train flags]

1. Exports `<benchmark>/episodes` (what `action-images benchmark metaworld` recorded) with
   `action-images export-lerobot --no-action-images`: a LeRobot v3 dataset whose video features
   are the cameras only, `observation.state` and `action` the episodes' end-effector pose and
   gripper (x y z qx qy qz qw openness; the action of a frame is the commanded pose at that
   frame).
2. Runs lerobot's own training script (`lerobot-train --policy.type=diffusion`) on the CPU with
   the chosen configuration, checkpointing every `--save-every` steps.
3. Stops it when `--budget-minutes` of wall clock have passed since it was launched (start-up
   included) and keeps the last complete checkpoint; writes `<out>/training.json` with the
   budget, the wall time, the steps reached and the checkpoint used.

Runs in the environment of scripts/metaworld_baseline/setup_env.sh (Python 3.12, lerobot
0.6.1); does not import lerobot itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Settings shared by every configuration: two observed frames (the current and the previous
# one), 16 predicted steps of which the current and the next 8 are kept (the first is the
# current pose, so 8 steps = 0.4 s are executed per chunk), no frames dropped at the end of a
# demonstration (Meta-World's are short: 10 to 60 frames), DDIM with 10 denoising steps.
COMMON = {
    "n_obs_steps": "2",
    "horizon": "16",
    "n_action_steps": "9",
    "drop_n_last_frames": "0",
    "noise_scheduler_type": "DDIM",
    "num_inference_steps": "10",
    "pretrained_backbone_weights": "null",  # offline: no ImageNet weights to download
}
# Model sizes (policy flags). The image encoder is one ResNet-18 shared by the three cameras
# (LeRobot's backbone; trained from scratch, offline) on images resized to 64 px (tiny, small)
# or 96 px (medium): its cost grows with the pixels and dominates a CPU step. `lerobot` is
# LeRobot's default network (a ResNet-18 per camera at the native size and a 512-1024-2048
# U-Net: 337 M parameters for three views), too slow to train on two CPU cores.
CONFIGS = {
    "tiny": {
        "down_dims": "[32,64,128]",
        "diffusion_step_embed_dim": "32",
        "use_separate_rgb_encoder_per_camera": "false",
        "spatial_softmax_num_keypoints": "16",
        "resize_shape": "[64,64]",
    },
    "small": {
        "down_dims": "[128,256,512]",
        "use_separate_rgb_encoder_per_camera": "false",
        "resize_shape": "[64,64]",
    },
    "medium": {
        "down_dims": "[128,256,512]",
        "use_separate_rgb_encoder_per_camera": "false",
        "resize_shape": "[96,96]",
    },
    "lerobot": {},
}


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(
        prog="train_dp.py", description=__doc__.split("\n\n")[0], epilog="after --: lerobot flags"
    )
    parser.add_argument(
        "--benchmark", type=Path, required=True, help="the benchmark's --out (with episodes/)"
    )
    parser.add_argument("--out", type=Path, help="default: <benchmark>/dp_baseline")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-minutes", type=float, help="wall-clock budget")
    budget.add_argument(
        "--same-budget-as",
        type=Path,
        metavar="REPORT",
        help="the budget is the training time (training_s) of this benchmark report.json",
    )
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--steps", type=int, default=100_000, help="lerobot's --steps (the LR schedule's length)"
    )
    parser.add_argument("--warmup-steps", type=int, default=100, help="LR warm-up steps")
    parser.add_argument("--save-every", type=int, default=50, help="checkpoint every N steps")
    parser.add_argument("--log-every", type=int, default=5, help="log every N steps")
    parser.add_argument("--num-workers", type=int, default=0, help="data loader processes")
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.same_budget_as is not None:
        report = json.loads(args.same_budget_as.read_text())
        if not report.get("training_s"):
            parser.error(f"{args.same_budget_as} records no training time (training_s)")
        args.budget_minutes = report["training_s"] / 60
    for name in ("budget_minutes", "batch_size", "steps", "save_every", "log_every"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if not (args.benchmark / "episodes").is_dir():
        parser.error(
            f"{args.benchmark}/episodes is missing: run `action-images benchmark "
            "metaworld --out DIR` first (it records the demonstrations there)"
        )
    args.out = args.out or args.benchmark / "dp_baseline"
    return args, extra


def export(episodes: Path, dataset: Path) -> dict:
    """The benchmark's episodes as a fresh LeRobot v3 dataset without action images."""
    if dataset.exists():
        shutil.rmtree(dataset)
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    command = [sys.executable, "-m", "action_images_ros.cli", "export-lerobot", str(episodes)]
    subprocess.run([*command, "--out", str(dataset), "--no-action-images"], check=True, env=env)
    info = json.loads((dataset / "meta/info.json").read_text())
    return {"episodes": info["total_episodes"], "frames": info["total_frames"], "fps": info["fps"]}


def lerobot_command(args: argparse.Namespace, dataset: Path, run: Path, extra: list[str]) -> list:
    lerobot_train = Path(sys.executable).with_name("lerobot-train")
    policy = COMMON | CONFIGS[args.config]
    return [
        str(lerobot_train),
        "--policy.type=diffusion",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        f"--policy.scheduler_warmup_steps={args.warmup_steps}",
        *(f"--policy.{key}={value}" for key, value in policy.items()),
        "--dataset.repo_id=local/metaworld_demonstrations",
        f"--dataset.root={dataset}",
        "--dataset.video_backend=pyav",
        f"--output_dir={run}",
        "--job_name=metaworld_dp",
        f"--steps={args.steps}",
        f"--batch_size={args.batch_size}",
        f"--num_workers={args.num_workers}",
        f"--save_freq={args.save_every}",
        f"--log_freq={args.log_every}",
        "--env_eval_freq=0",
        "--wandb.enable=false",
        f"--seed={args.seed}",
        *extra,
    ]


def prune_checkpoints(run: Path, keep: int = 2) -> None:
    """Delete all but the `keep` newest checkpoints (a small config's is 350 MB; the newest may
    still be being written, so two are kept)."""
    steps = sorted((run / "checkpoints").glob("[0-9]*"), key=lambda p: int(p.name))
    for old in steps[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def train_within_budget(
    command: list[str], run: Path, log: Path, budget_s: float
) -> tuple[float, bool]:
    """Run `command` (its output to `log`) until it ends or `budget_s` seconds have passed,
    keeping only the newest checkpoints in `run`; returns (wall seconds, whether the budget
    stopped it)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled")
    began = time.monotonic()
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        stopped = False
        while process.poll() is None:
            if time.monotonic() - began >= budget_s:
                stopped = True
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                break
            prune_checkpoints(run)
            time.sleep(1.0)
    wall = time.monotonic() - began
    if not stopped and process.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise SystemExit(f"train_dp.py: lerobot-train failed ({process.returncode}):\n{tail}")
    return wall, stopped


def last_checkpoint(run: Path) -> tuple[Path, int]:
    """The newest complete checkpoint (weights, config and processors written) and its step."""
    complete = []
    for step_dir in (run / "checkpoints").glob("[0-9]*"):
        model = step_dir / "pretrained_model"
        step_file = step_dir / "training_state" / "training_step.json"
        if (model / "model.safetensors").is_file() and step_file.is_file():
            complete.append((json.loads(step_file.read_text())["step"], model))
    if not complete:
        raise SystemExit(
            f"train_dp.py: no complete checkpoint in {run}/checkpoints within the budget: raise "
            "--budget-minutes or lower --save-every"
        )
    step, model = max(complete)
    return model, step


def logged(log: Path) -> dict:
    """The last step and loss lerobot logged, and its parameter count."""
    text = log.read_text()
    steps = re.findall(r"step:(\d+(?:\.\d+)?)([KMB]?)\s.*?loss:([0-9.]+)", text)
    params = re.findall(r"num_learnable_params=(\d+)", text)
    result: dict = {"learnable_parameters": int(params[-1]) if params else None}
    if steps:
        value, unit, loss = steps[-1]
        scale = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9}[unit]
        result |= {"last_logged_step": int(float(value) * scale), "last_logged_loss": float(loss)}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    dataset, run = args.out / "dataset", args.out / "train"
    data = export(args.benchmark / "episodes", dataset)
    print(f"exported {data['episodes']} episodes, {data['frames']} frames to {dataset}")
    if run.exists():
        shutil.rmtree(run)  # lerobot refuses an existing output directory
    command = lerobot_command(args, dataset, run, extra)
    budget_s = args.budget_minutes * 60
    log = args.out / "train.log"
    print(f"lerobot-train ({args.config}) for at most {args.budget_minutes:g} min; log {log}")
    wall, stopped = train_within_budget(command, run, log, budget_s)
    model, step = last_checkpoint(run)
    record = {
        "config": args.config,
        "policy_flags": COMMON | CONFIGS[args.config],
        "extra_flags": extra,
        "batch_size": args.batch_size,
        "budget_minutes": args.budget_minutes,
        "wall_s": wall,
        "stopped_by_budget": stopped,
        "checkpoint_step": step,
        "checkpoint": str(model.resolve()),
        "dataset": data | {"path": str(dataset.resolve())},
        "command": command,
        **logged(log),
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"trained {wall:.0f} s ({'stopped at the budget' if stopped else 'finished'}), "
        f"checkpoint at step {step}: {model}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
