"""Video-action model: inference time per denoising step and per chunk, peak memory, training
steps per second, for each preset (with the horizon a chunk covers at `--frame-interval`); and
the world-model figures of a trained model on held-out demonstrations.

    scripts/bootstrap.sh -- python bench/bench_model.py [--device cuda] [--views 3]
    scripts/bootstrap.sh -- python bench/bench_model.py --wan5b [--device cuda] [--size 256]
    scripts/bootstrap.sh -- python bench/bench_model.py --held-out EPISODES [--model DIR]

`--held-out` (episodes never used for training, e.g. recorded with `action-images record-demos
--first-seed 1000` and converted with `action-images label-bag`) measures the model (default:
the packaged one) as a world model, over every window of its frames in every episode:
- action-conditioned video generation: PSNR and SSIM of the generated RGB frames against the
  recorded ones at the model's size (SSIM: Wang et al. 2004 with an 11-tap Gaussian window of
  sigma 1.5 over [0, 1] pixels, per channel, computed here with scipy; the paper reports
  23.48 dB / 0.786 for 41 frames at 512 px on RLBench, for orientation only);
- action labeling (all RGB given, action images generated and decoded): position (mm) and
  rotation (deg) error and gripper accuracy of the decoded steps;
- joint generation (policy mode): the same errors of the decoded future steps.

`--wan5b` builds the Wan 2.2 TI2V-5B layout with random weights in bf16 (about 10 GB) and
times one denoising step over V views' RGB and action latents, and the VAE's chunked decoding
of the generated segments; no training figures (a 5B model is fine-tuned on GPUs, with LoRA).

On the CPU, peak memory is the growth of the process's resident set (ru_maxrss) over the run;
on CUDA, torch.cuda.max_memory_allocated. bf16 on CUDA.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

from action_images_ros.core.cameras import CameraRig
from action_images_ros.model.config import DEFAULT_CHECKPOINT, PRESETS, build_preset
from action_images_ros.model.modes import Mode
from action_images_ros.model.objective import flow_matching_loss
from action_images_ros.model.pipeline import VideoActionPipeline, default_scheduler
from action_images_ros.model.rays import plucker_rays
from action_images_ros.model.wan_transformer import WanTransformerDenoiser


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


def bench_wan5b(device: str, views: int, size: int, frames: int) -> None:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLWan

    from action_images_ros.model.config import WAN_2_2_TI2V_5B
    from action_images_ros.model.latent_space import WanLatentSpace

    dtype = torch.bfloat16
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with init_empty_weights():
        model = WanTransformerDenoiser(
            views=views, frames=frames, height=size, width=size, **WAN_2_2_TI2V_5B["transformer"]
        )
    model = model.to_empty(device=device).to(dtype)
    generator = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.02, generator=generator)
    vae = AutoencoderKLWan(**WAN_2_2_TI2V_5B["vae"]).to(device, dtype)
    space = WanLatentSpace(vae)
    built = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters()) / 1e9
    vae_params = sum(p.numel() for p in vae.parameters()) / 1e6
    f, h, w, c = model.latent_shape
    latents = torch.randn(1, views, 2, f, h, w, c, device=device, dtype=dtype)
    rays = plucker_rays(rig(views), h, w)[None].to(device, dtype)
    timesteps = torch.full((1, views, 2, f), 500.0, device=device, dtype=dtype)
    tokens = views * 2 * f * (h // 2) * (w // 2)
    with torch.no_grad():
        model(latents, timesteps, rays, torch.tensor([1], device=device))  # warm-up
        start = time.perf_counter()
        model(latents, timesteps, rays, torch.tensor([1], device=device))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        step = time.perf_counter() - start
        start = time.perf_counter()
        pixels = space.decode(latents)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        decode = time.perf_counter() - start
    print(
        f"Wan 2.2 TI2V-5B layout, random weights, bf16 on {device}: transformer "
        f"{params:.2f} B parameters, VAE {vae_params:.0f} M; built in {built:.0f} s"
    )
    print(
        f"{views} views x [RGB, action] x {frames} frames of {size} px = {f} latent frames "
        f"of {h} x {w} x {c} = {tokens} tokens"
    )
    print(
        f"one denoising step {step:.2f} s; VAE decoding of {views * 2} segments "
        f"{tuple(pixels.shape[3:6])} {decode:.2f} s; peak {peak_mb(device, baseline):.0f} MB"
    )


def bench_world_model(model: Path, episodes: Path, device: str, steps: int | None) -> None:
    from action_images_ros.model.loading import load_model_directory
    from action_images_ros.model.world_model import world_model_figures

    start = time.perf_counter()
    figures = world_model_figures(load_model_directory(model, device), episodes, steps)
    print(f"{model} on the held-out episodes in {episodes} ({time.perf_counter() - start:.0f} s):")
    print(json.dumps(figures, indent=2))
    print(
        f"action-conditioned video: PSNR {figures['video_psnr_db']:.2f} dB, SSIM "
        f"{figures['video_ssim']:.3f} (the paper, 41 frames at 512 px on RLBench: 23.48 dB, "
        "0.786)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="denoising steps per chunk")
    parser.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=list(PRESETS))
    parser.add_argument("--train-batch", type=int, default=2, help="batch of the training steps")
    parser.add_argument(
        "--frame-interval", type=float, default=0.2, help="s per frame (for the horizon)"
    )
    parser.add_argument(
        "--override",
        nargs="+",
        default=[],
        metavar="KEY=JSON",
        help="replace preset settings, e.g. block_channels=[32,64,128] layers_per_block=2",
    )
    parser.add_argument("--wan5b", action="store_true", help="the 5B layout, random weights")
    parser.add_argument("--size", type=int, default=256, help="--wan5b: frame size")
    parser.add_argument("--frames", type=int, default=5, help="--wan5b: frames per segment")
    parser.add_argument("--held-out", type=Path, help="world-model figures on these episodes")
    parser.add_argument("--model", type=Path, default=DEFAULT_CHECKPOINT, help="--held-out: model")
    parser.add_argument(
        "--inference-steps", type=int, help="--held-out: steps (default: the model's)"
    )
    args = parser.parse_args()
    try:
        args.override = {k: json.loads(v) for k, _, v in (o.partition("=") for o in args.override)}
    except json.JSONDecodeError as error:
        parser.error(f"--override takes KEY=JSON, e.g. patch_size=2: {error}")
    if args.wan5b:
        bench_wan5b(args.device, args.views, args.size, args.frames)
        return
    if args.held_out:
        bench_world_model(args.model, args.held_out, args.device, args.inference_steps)
        return
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    print(f"device {args.device} ({dtype}), {args.views} views, {args.steps} denoising steps")
    print(
        f"{'preset':>9} {'params':>8} {'horizon':>8} | {'ms/step':>8} {'s/chunk':>8} "
        f"{'peak MB':>8} | {'train steps/s':>13} (batch {args.train_batch})"
    )
    for name in args.presets:
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        torch.manual_seed(0)
        model = build_preset(name, args.views, **args.override).to(args.device)
        if dtype != torch.float32:
            model = model.to(dtype)
        c = model.config
        rays = plucker_rays(rig(args.views), c.height, c.width)[None].to(args.device)
        clips = torch.rand(1, args.views, 2, c.frames, c.height, c.width, 3)
        pipeline = VideoActionPipeline(denoiser=model, scheduler=default_scheduler())
        pipeline(clips=clips, rays=rays, mode=Mode.POLICY, num_inference_steps=1)  # warm-up
        start = time.perf_counter()
        pipeline(
            clips=clips,
            rays=rays,
            mode=Mode.POLICY,
            num_inference_steps=args.steps,
            generator=torch.Generator().manual_seed(0),
        )
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        chunk = time.perf_counter() - start
        memory = peak_mb(args.device, baseline)
        model.float().train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        size = args.train_batch
        batch = torch.rand(size, args.views, 2, c.frames, c.height, c.width, 3, device=args.device)
        ray_batch, tasks = (
            rays.expand(size, -1, -1, -1, -1).float(),
            (torch.arange(size) % 2 + 1).to(args.device),
        )
        start, train_steps = time.perf_counter(), 5
        for _ in range(train_steps):
            loss = flow_matching_loss(model, batch * 2 - 1, ray_batch, tasks, [Mode.POLICY] * size)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        rate = train_steps / (time.perf_counter() - start)
        parameters = sum(p.numel() for p in model.parameters()) / 1e6
        horizon = (c.frames - 1) * args.frame_interval
        print(
            f"{name:>9} {parameters:7.2f}M {horizon:7.1f}s | {1e3 * chunk / args.steps:8.1f} "
            f"{chunk:8.2f} {memory:8.0f} | {rate:13.2f}"
        )


if __name__ == "__main__":
    main()
