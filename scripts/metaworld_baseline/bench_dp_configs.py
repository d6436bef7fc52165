"""Print the parameter count and the CPU time of one training step of each train_dp.py config.

    $DP/bin/python scripts/metaworld_baseline/bench_dp_configs.py [--size 128] [--batch-size 8]
        [--configs tiny small] [--repeats 3]

A step is what lerobot-train does per batch minus the data loading: the diffusion loss of
`--batch-size` samples (three cameras at `--size` px, two observed frames, 16 actions of 8
values), its backward pass and an Adam update. Random inputs; the figure is the median of
`--repeats` steps after one warm-up step. Runs in scripts/metaworld_baseline/setup_env.sh's
environment.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
from train_dp import COMMON, CONFIGS

CAMERAS = ("corner", "corner2", "topview")


def config_of(name: str, size: int) -> DiffusionConfig:
    """The DiffusionConfig that train_dp.py's flags for `name` give."""
    values = {}
    for key, flag in (COMMON | CONFIGS[name]).items():
        if flag == "null":
            values[key] = None
        elif flag in ("true", "false"):
            values[key] = flag == "true"
        elif flag.startswith("["):
            values[key] = tuple(int(v) for v in flag.strip("[]").split(","))
        else:
            values[key] = int(flag) if flag.isdigit() else flag
    features = {
        f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, size, size))
        for c in CAMERAS
    }
    features["observation.state"] = PolicyFeature(FeatureType.STATE, (8,))
    return DiffusionConfig(
        input_features=features,
        output_features={"action": PolicyFeature(FeatureType.ACTION, (8,))},
        device="cpu",
        **values,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--configs", nargs="+", default=["tiny", "small", "medium"], choices=sorted(CONFIGS)
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    for name in args.configs:
        config = config_of(name, args.size)
        policy = DiffusionPolicy(config)
        optimizer = torch.optim.Adam(policy.parameters(), lr=1e-4)
        obs, horizon, b = config.n_obs_steps, config.horizon, args.batch_size
        batch = {
            f"observation.images.{c}": torch.rand(b, obs, 3, args.size, args.size) for c in CAMERAS
        }
        batch["observation.state"] = torch.rand(b, obs, 8)
        batch["action"] = torch.rand(b, horizon, 8) * 2 - 1
        batch["action_is_pad"] = torch.zeros(b, horizon, dtype=torch.bool)
        times = []
        for _ in range(args.repeats + 1):
            began = time.perf_counter()
            loss, _ = policy.forward(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - began)
        parameters = sum(p.numel() for p in policy.parameters())
        print(
            f"{name}: {parameters / 1e6:.1f} M parameters, {statistics.median(times[1:]):.2f} s "
            f"a training step (batch {b}, {len(CAMERAS)} cameras at {args.size} px, "
            f"{torch.get_num_threads()} threads)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
