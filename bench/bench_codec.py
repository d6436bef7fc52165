"""Action-image codec: round-trip accuracy against the published depth search, and throughput.

    scripts/bootstrap.sh -- python bench/bench_codec.py [--quick] [--device cuda]

Random trajectories inside a 1 m workspace seen by 2 to 4 cameras around it, at 256x256 and
512x512, clean and degraded (pixel noise, blur, 8-bit quantisation). Prints position error (mm),
rotation error (degrees) and gripper accuracy of our decoder and of the depth-search baseline
(64 and 512 samples) on the same images, then encode/decode throughput in view-frames per
second next to one elementwise pass over the same pixels.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from action_images_ros.core.action_decoding import decode, depth_search_decode
from action_images_ros.core.action_images import encode
from action_images_ros.core.cameras import CameraRig

CENTRE = np.array([0.5, 0.0, 0.3])


def make_rig(views: int, size: int, device: str, rng: np.random.Generator) -> CameraRig:
    """Cameras 1.2 to 1.6 m from the workspace centre, spread around it, looking at it."""
    poses = []
    for view in range(views):
        azimuth = 2 * math.pi * view / views + rng.uniform(-0.3, 0.3)
        distance, height = rng.uniform(1.2, 1.6), rng.uniform(0.5, 0.9)
        eye = CENTRE + [distance * math.cos(azimuth), distance * math.sin(azimuth), height]
        z = (CENTRE - eye) / np.linalg.norm(CENTRE - eye)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = np.stack([x, np.cross(z, x), z], 1), eye
        poses.append(pose)
    focal = size / (2 * math.tan(math.radians(26)))  # the whole 1 m workspace in view
    k = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]])
    return CameraRig.from_arrays([k] * views, poses, size, size, device=device, dtype=torch.float32)


def degrade(images: torch.Tensor, condition: str, generator: torch.Generator) -> torch.Tensor:
    if condition == "clean":
        return images
    steps, views, height, width, _ = images.shape
    maps = images.permute(0, 1, 4, 2, 3).reshape(-1, 1, height, width)
    if "blur" in condition:  # the softening a generative model adds: sigma = 1% of the size
        sigma = 0.01 * width
        radius = math.ceil(3 * sigma)
        x = torch.arange(-radius, radius + 1.0, device=images.device)
        kernel = torch.exp(-(x**2) / (2 * sigma**2))
        kernel = (kernel / kernel.sum()).to(maps.dtype)
        maps = F.conv2d(maps, kernel.view(1, 1, 1, -1), padding=(0, radius))
        maps = F.conv2d(maps, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    maps = maps.reshape(steps, views, 3, height, width).permute(0, 1, 3, 4, 2)
    if "noise" in condition:
        maps = maps + 0.05 * torch.randn(maps.shape, generator=generator).to(maps.device)
    return (maps.clamp(0, 1) * 255).round().to(torch.uint8)  # every degraded image is 8-bit


def errors(positions, rotations, gripper, true_p, true_r, true_g, keep) -> tuple[float, ...]:
    """Mean errors over the steps `keep` (those our decoder marks valid: a keypoint outside
    all but one view cannot be triangulated by any decoder)."""
    positions, rotations = positions.cpu().double().numpy(), rotations.cpu().double().numpy()
    position = 1e3 * np.linalg.norm(positions[keep] - true_p[keep], axis=1).mean()
    turn = Rotation.from_matrix(rotations[keep]) * Rotation.from_matrix(true_r[keep]).inv()
    accuracy = float((gripper.cpu().numpy()[keep] == true_g[keep]).mean())
    return position, float(np.degrees(turn.magnitude()).mean()), accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer trajectories, 2 cameras")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=16, help="timesteps per trajectory")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    rng, generator = np.random.default_rng(0), torch.Generator().manual_seed(0)
    sizes, view_counts = ([256], [2, 3]) if args.quick else ([256, 512], [2, 3, 4])
    trials = 2 if args.quick else 5
    conditions = ["clean", "8bit", "noise", "blur", "noise+blur"]

    print(
        f"device {args.device}; {trials} trajectories of {args.steps} steps per row; mean errors "
        "over the steps our decoder marks valid (column 'valid': their fraction)"
    )
    header = (
        f"{'size':>5} {'views':>5} {'condition':>11} | {'ours mm':>8} {'deg':>6} {'grip':>5} | "
    )
    header += f"{'ds64 mm':>8} {'deg':>6} | {'ds512 mm':>8} {'deg':>6} | {'valid':>5}"
    print(header)
    print("-" * len(header))
    throughput = {}
    for size in sizes:
        for views in view_counts:
            rows = {c: [] for c in conditions}
            for _ in range(trials):
                rig = make_rig(views, size, args.device, rng)
                true_p = rng.uniform(CENTRE - 0.5, CENTRE + 0.5, (args.steps, 3)) * [1, 1, 0.5]
                true_p[:, 2] += 0.15
                true_r = Rotation.random(args.steps, random_state=rng.integers(1 << 30)).as_matrix()
                true_g = rng.integers(0, 2, args.steps).astype(float)
                start = time.perf_counter()
                clean = encode(
                    torch.tensor(true_p), torch.tensor(true_r), torch.tensor(true_g), rig
                )
                encode_time = time.perf_counter() - start
                for condition in conditions:
                    images = degrade(clean.images, condition, generator)
                    start = time.perf_counter()
                    ours = decode(images, rig)
                    decode_time = time.perf_counter() - start
                    start = time.perf_counter()
                    ds64 = depth_search_decode(images, rig, samples=64)
                    ds64_time = time.perf_counter() - start
                    ds512 = depth_search_decode(images, rig, samples=512, near=0.5, far=2.5)
                    keep = ours.valid.cpu().numpy()
                    truth = (true_p, true_r, true_g, keep)
                    rows[condition].append(
                        errors(ours.positions, ours.rotations, ours.gripper, *truth)
                        + errors(*ds64, *truth)[:2]
                        + errors(*ds512, *truth)[:2]
                        + (keep.mean(),)
                    )
                    if condition == "8bit":
                        throughput.setdefault((size, views), []).append(
                            (encode_time, decode_time, ds64_time, images)
                        )
            for condition in conditions:
                m = np.mean(rows[condition], axis=0)
                print(
                    f"{size:>5} {views:>5} {condition:>11} | {m[0]:8.3f} {m[1]:6.3f} {m[2]:5.2f} | "
                    f"{m[3]:8.1f} {m[4]:6.2f} | {m[5]:8.1f} {m[6]:6.2f} | {m[7]:5.2f}"
                )
    print("\nthroughput (view-frames per second; 8-bit images; median over trajectories)")
    print(f"{'size':>5} {'views':>5} | {'encode':>8} {'decode':>8} {'ds64':>8} | {'1 pass':>8}")
    for (size, views), samples in throughput.items():
        frames = args.steps * views
        images = samples[0][3]
        start = time.perf_counter()
        for _ in range(5):
            (images.float() * 0.5).sum()
        single_pass = (time.perf_counter() - start) / 5
        encode_fps, decode_fps, ds_fps = (
            frames / np.median([s[i] for s in samples]) for i in range(3)
        )
        print(
            f"{size:>5} {views:>5} | {encode_fps:8.0f} {decode_fps:8.0f} {ds_fps:8.0f} | "
            f"{frames / single_pass:8.0f}"
        )


if __name__ == "__main__":
    main()
