"""Video-action model: inference time per denoising step and per chunk, peak memory, training
steps per second, for the tiny and small presets.

    scripts/bootstrap.sh -- python bench/bench_model.py [--device cuda] [--views 3]

On the CPU, peak memory is the growth of the process's resident set (ru_maxrss) over the run;
on CUDA, torch.cuda.max_memory_allocated. bf16 on CUDA.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from action_images_ros.core.cameras import CameraRig
from action_images_ros.model.config import PRESETS
from action_images_ros.model.modes import Mode
from action_images_ros.model.pipeline import VideoActionPipeline, flow_matching_loss
from action_images_ros.model.video_action_model import VideoActionModel, plucker_rays


def rig(views: int) -> CameraRig:
    k = np.array([[200.0, 0, 127.5], [0, 200.0, 127.5], [0, 0, 1]])
    poses = []
    for view in range(views):
        pose = np.eye(4)
        pose[0, 3] = 0.3 * view
        poses.append(pose)
    return CameraRig.from_arrays([k] * views, poses, 256, 256, dtype=torch.float32)


def peak_mb(device: str, baseline_kb: int) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="denoising steps per chunk")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    print(f"device {args.device} ({dtype}), {args.views} views, {args.steps} denoising steps")
    print(f"{'preset':>6} {'params':>8} | {'ms/step':>8} {'s/chunk':>8} {'peak MB':>8} | "
          f"{'train steps/s':>13} (batch 2)")  # fmt: skip
    for name, preset in PRESETS.items():
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        torch.manual_seed(0)
        model = VideoActionModel(views=args.views, **preset).to(args.device, dtype)
        c = model.config
        rays = plucker_rays(rig(args.views), c.height, c.width)[None].to(args.device)
        clips = torch.rand(1, args.views, 2, c.frames, c.height, c.width, 3)
        pipeline = VideoActionPipeline(model)
        pipeline(clips, rays, Mode.POLICY, num_inference_steps=1)  # warm-up
        start = time.perf_counter()
        pipeline(clips, rays, Mode.POLICY, num_inference_steps=args.steps,
                 generator=torch.Generator().manual_seed(0))  # fmt: skip
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        chunk = time.perf_counter() - start
        memory = peak_mb(args.device, baseline)
        model.float().train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        batch = torch.rand(2, args.views, 2, c.frames, c.height, c.width, 3, device=args.device)
        ray_batch, tasks = (
            rays.expand(2, -1, -1, -1, -1).float(),
            torch.tensor([1, 2]).to(args.device),
        )
        start, train_steps = time.perf_counter(), 5
        for _ in range(train_steps):
            loss = flow_matching_loss(model, batch, ray_batch, tasks, [Mode.POLICY] * 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        rate = train_steps / (time.perf_counter() - start)
        parameters = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:>6} {parameters:7.2f}M | {1e3 * chunk / args.steps:8.1f} {chunk:8.2f} "
              f"{memory:8.0f} | {rate:13.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
