"""The released model's GPU figures, in one run on a lent GPU (see docs/released_model.md).

Builds the full published 5B layout (`PublishedTransformerDenoiser` with the released
checkpoint's sizes, random bf16 weights, and a Wan 2.2 VAE of the published configuration with
random weights) and reports, as text and as JSON (`--json`):

- per-step latency (one transformer evaluation) at 2 views x 41 frames x 512 px and at 256 px:
  guidance branches batched (one call of batch 2) and separate (two calls), with and without
  torch.compile (`--compile`);
- the camera latents' time (the rays of both views through the VAE; once per camera setup);
- per-chunk latency (the whole policy call: VAE encoding of the clips, sampling, VAE decoding
  of all segments; the camera latents kept from the previous chunk) for 50, 20 and 10 steps,
  each without and with reuse of the previous prediction (cosine similarity 0.95), and how
  many transformer evaluations each ran;
- peak GPU memory;
- the CUDA/bf16 check: a tiny published-structure model in bf16 on the GPU against the float32
  reference implementation of the published DiT (test/unit/published_fixtures.py), and the
  repository's CUDA tests (`pytest -k cuda`) where pytest is installed.

Stays within `--budget` seconds (default 420): what does not fit is reported as skipped.
The GPU machine has no diffusers and no roma: the script installs the wheels it finds in
bench/wheels/ (`pip install --no-deps`); build them here with
`pip wheel diffusers==0.42.1 roma==1.8.0 --no-deps -w bench/wheels` and carry that folder.
`--tiny` runs the same code on the CPU at toy sizes in seconds (the unit tests do).

    python bench/bench_gpu.py --json $OUT/bench_gpu.json
    python bench/bench_gpu.py --tiny
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / "bench" / "wheels"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test" / "unit"))


NEEDED = {"diffusers": "diffusers==0.42.1", "roma": "roma==1.8.0"}  # pure Python, no deps


def ensure_packages() -> dict[str, str]:
    """The pure-Python packages the GPU machine lacks, installed from bench/wheels/ without
    dependencies (or imported from the wheel itself where pip may not install); versions."""
    versions = {}
    for name, pin in NEEDED.items():
        try:
            module = importlib.import_module(name)
        except ImportError:
            wheels = sorted(WHEELS.glob(f"{name}-*.whl"))
            if not wheels:
                raise SystemExit(
                    f"{name} is not installed and no wheel is in {WHEELS}: build one with "
                    f"`pip wheel {pin} --no-deps -w bench/wheels` and carry it"
                ) from None
            install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index"]
            if subprocess.run([*install, str(wheels[-1])], check=False).returncode != 0:
                sys.path.insert(0, str(wheels[-1]))  # a pure-Python wheel imports as a zip
            importlib.invalidate_caches()
            module = importlib.import_module(name)
        versions[name] = getattr(module, "__version__", "?")
    return versions


VAE_5B = dict(
    base_dim=160,
    decoder_base_dim=256,
    z_dim=48,
    dim_mult=[1, 2, 4, 4],
    num_res_blocks=2,
    temperal_downsample=[False, True, True],
    is_residual=True,
    patch_size=2,
    in_channels=12,
    out_channels=12,
    scale_factor_spatial=16,
    scale_factor_temporal=4,
    latents_mean=[0.0] * 48,
    latents_std=[1.0] * 48,
)
VAE_TINY = dict(
    base_dim=8,
    z_dim=4,
    dim_mult=[1, 2, 2, 2],
    num_res_blocks=1,
    is_residual=True,
    patch_size=2,
    in_channels=12,
    out_channels=12,
    scale_factor_spatial=16,
    scale_factor_temporal=4,
    latents_mean=[0.0] * 4,
    latents_std=[1.0] * 4,
)
TINY_MODEL = dict(
    views=2,
    frames=5,
    height=32,
    width=32,
    num_layers=2,
    num_attention_heads=2,
    attention_head_dim=16,
    ffn_dim=64,
    text_dim=32,
    freq_dim=32,
    latent_channels=4,
    camera_pool_size=1,
)


class Bench:
    """Measurements within a time budget; each figure recorded in `report`."""

    def __init__(self, device: str, budget: float, path: Path | None = None) -> None:
        import torch

        self.torch, self.device, self.budget, self.path = torch, device, budget, path
        self.start = time.perf_counter()
        self.report: dict[str, object] = {"skipped": []}

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.start)

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def timed(self, function, repeats: int, warm_up: bool = True) -> float:
        """Median seconds of `function()` over `repeats` runs (after one warm-up run)."""
        if warm_up:
            function()
            self.sync()
        times = []
        for _ in range(repeats):
            begin = time.perf_counter()
            function()
            self.sync()
            times.append(time.perf_counter() - begin)
        return sorted(times)[len(times) // 2]

    def record(self, key: str, value: object) -> None:
        """Keep a figure (written at once: a run killed at its time limit keeps its figures)."""
        self.report[key] = value
        print(f"{key}: {value}", flush=True)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.report, indent=2) + "\n")


def build(size: dict, vae_config: dict, device: str, dtype):
    """The published denoiser (random weights) and a pipeline around it with the VAE."""
    import torch
    from diffusers import AutoencoderKLWan

    from action_images_ros.model.loading import create_model
    from action_images_ros.model.published_sampler import SamplerSettings
    from action_images_ros.model.published_transformer import PublishedTransformerDenoiser

    with torch.device("meta"):
        denoiser = PublishedTransformerDenoiser(**size)
    denoiser = denoiser.to_empty(device=device).to(dtype)
    generator = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for name, parameter in denoiser.named_parameters():
            scale = 0.02 if parameter.ndim > 1 else 0.0
            parameter.normal_(0.0, 1.0, generator=generator).mul_(scale)
            if "norm" in name and parameter.ndim == 1:
                parameter.fill_(1.0)
    c = denoiser.config  # the rotary tables are buffers: computed again, not random
    rope = type(denoiser.transformer.rope)(
        c.attention_head_dim, (1, c.patch_size, c.patch_size), 1024
    ).to(device)
    denoiser.transformer.rope = rope
    vae = AutoencoderKLWan(**vae_config).to(device, dtype).eval()
    bundle = create_model(denoiser.eval(), vae=vae, sampler=SamplerSettings())
    return bundle


def rig(size: int):
    import numpy as np

    from action_images_ros.core.cameras import CameraRig

    k = np.array([[size * 1.1, 0, size / 2 - 0.5], [0, size * 1.1, size / 2 - 0.5], [0, 0, 1]])
    second = np.eye(4)
    second[:3, :3] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]
    second[:3, 3] = [0.6, 0.0, 0.4]
    return CameraRig.from_arrays([k, k], [np.eye(4), second], size, size)


def measure_resolution(
    bench: Bench,
    size: dict,
    vae: dict,
    steps: list[int],
    label: str,
    repeats: int,
    compile_too: bool,
) -> None:
    torch = bench.torch
    from action_images_ros.model.modes import Mode
    from action_images_ros.model.published_sampler import SamplerSettings

    dtype = torch.bfloat16 if bench.device.startswith("cuda") else torch.float32
    bundle = build(size, vae, bench.device, dtype)
    pipeline, denoiser = bundle.pipeline, bundle.denoiser
    c = denoiser.config
    f, h, w, channels = denoiser.latent_shape
    text = torch.randn(1, 512, c.text_dim, device=bench.device, dtype=dtype)
    sample = torch.randn(1, c.views, 2, f, h, w, channels, device=bench.device, dtype=dtype)
    cameras = torch.randn(1, c.views, f, h, w, 2 * channels, device=bench.device, dtype=dtype)
    timesteps = torch.full((1, c.views, 2, f), 500.0, device=bench.device, dtype=dtype)
    tasks = torch.zeros(1, dtype=torch.long, device=bench.device)
    tokens = c.views * 2 * f * (h // c.patch_size) * (w // c.patch_size)
    bench.record(f"{label}.tokens_per_sample", tokens)

    def step(batch_guidance: bool):
        def run():
            with torch.no_grad():
                if batch_guidance:
                    denoiser(
                        torch.cat([sample, sample]),
                        torch.cat([timesteps, timesteps]),
                        torch.cat([cameras, cameras]),
                        torch.cat([tasks, tasks]),
                        torch.cat([text, text]),
                    )
                else:
                    denoiser(sample, timesteps, cameras, tasks, text)
                    denoiser(sample, timesteps, cameras, tasks, text)

        return run

    for batched in (True, False):
        name = f"{label}.step_s.guidance_{'batched' if batched else 'separate'}"
        bench.record(name, round(bench.timed(step(batched), repeats), 4))
    clips = torch.rand(1, c.views, 2, c.frames, c.height, c.width, 3, device=bench.device)
    rays = pipeline.camera_rays(rig(c.height)).to(bench.device)
    from action_images_ros.model.published_transformer import encode_camera_latents

    def camera_latents():  # once per camera setup: the chunks below reuse them
        encode_camera_latents(pipeline.space, rays.to(dtype), c.frames)

    seconds = bench.timed(camera_latents, 1, warm_up=bench.device != "cpu")
    bench.record(f"{label}.camera_latents_s", round(seconds, 3))
    for count in steps:
        for reuse in (None, 0.95):
            key = f"{label}.chunk_s.steps_{count}.{'reuse_0.95' if reuse else 'no_reuse'}"
            # One chunk costs about `count` steps: skip what would overrun the budget.
            estimate = count * bench.report[f"{label}.step_s.guidance_batched"] * 1.5 + 5
            if bench.left() < estimate:
                bench.report["skipped"].append(key)
                print(f"{key}: skipped (about {estimate:.0f} s, {bench.left():.0f} s left)")
                continue
            pipeline.sampler = SamplerSettings(reuse_threshold=reuse)

            def chunk(count=count):
                pipeline(
                    clips=clips,
                    rays=rays,
                    mode=Mode.POLICY,
                    prompt_embeds=text,
                    negative_prompt_embeds=torch.zeros_like(text),
                    num_inference_steps=count,
                    guidance_scale=5.0,
                    generator=torch.Generator().manual_seed(0),
                )

            bench.record(key, round(bench.timed(chunk, 1, warm_up=bench.device != "cpu"), 3))
            bench.record(key.replace("chunk_s", "evaluations"), pipeline.last_sampling.evaluations)
    if compile_too:
        key = f"{label}.step_s.guidance_batched.compiled"
        if bench.left() < 120:
            bench.report["skipped"].append(key)
        else:
            from action_images_ros.model.published_sampler import compile_blocks

            begin = time.perf_counter()
            compile_blocks(denoiser)
            step(True)()
            bench.sync()
            bench.record(f"{label}.compile_and_first_step_s", round(time.perf_counter() - begin, 1))
            bench.record(key, round(bench.timed(step(True), repeats), 4))
    if bench.device.startswith("cuda"):
        bench.record(
            f"{label}.peak_memory_gib", round(torch.cuda.max_memory_allocated() / 2**30, 2)
        )
        torch.cuda.reset_peak_memory_stats()


def precision_check(bench: Bench) -> None:
    """A tiny published model in the bench's precision against the float32 reference DiT."""
    torch = bench.torch
    from published_fixtures import PublishedDiT, randomise_cameras

    from action_images_ros.model.import_checkpoint import diffusers_name
    from action_images_ros.model.published_transformer import PublishedTransformerDenoiser

    torch.manual_seed(0)
    reference = randomise_cameras(PublishedDiT(channels=4, text_dim=16, pool=2)).eval()
    model = PublishedTransformerDenoiser(
        frames=5,
        height=64,
        width=64,
        text_dim=16,
        ffn_dim=48,
        latent_channels=4,
        camera_pool_size=2,
    )
    state = {diffusers_name(k): v for k, v in reference.state_dict().items()}
    state["task_embedding.weight"] = torch.zeros_like(model.task_embedding.weight)
    model.load_state_dict(state, strict=True)
    generator = torch.Generator().manual_seed(3)
    clips = torch.randn(1, 2, 2, 2, 4, 4, 4, generator=generator)
    cameras = torch.randn(1, 2, 2, 4, 4, 8, generator=generator)
    context = torch.randn(1, 7, 16, generator=generator)
    timesteps = torch.full((1, 2, 2, 2), 600.0)
    with torch.no_grad():
        hidden = torch.cat([clips[:, v, k] for v in range(2) for k in range(2)], 1)
        video = torch.cat([cameras[:, v] for v in range(2) for _ in range(2)], 1)
        expected = reference(
            hidden.permute(0, 4, 1, 2, 3),
            torch.tensor([600.0]),
            context,
            video.permute(0, 1, 4, 2, 3),
        )
        expected = expected.permute(0, 2, 3, 4, 1).reshape(clips.shape)
        dtype = torch.bfloat16 if bench.device.startswith("cuda") else torch.float32
        model = model.to(bench.device, dtype)
        inputs = (t.to(bench.device, dtype) for t in (clips, timesteps, cameras, context))
        ours = model.network(*inputs).float().cpu()
    error = ((ours - expected).norm() / expected.norm()).item()
    bench.record("precision.relative_error_vs_float32_reference", float(f"{error:.3g}"))
    bench.record("precision.ok", error < (0.03 if dtype == torch.bfloat16 else 1e-4))


def cuda_tests(bench: Bench) -> None:
    try:
        importlib.import_module("pytest")
    except ImportError:
        bench.record("cuda_tests", "not run: pytest is not installed on this machine")
        return
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-k",
            "cuda",
            "-p",
            "no:cacheprovider",
            str(ROOT / "test" / "unit"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
    )
    last = (result.stdout.strip().splitlines() or ["no output"])[-1]
    bench.record("cuda_tests", f"exit {result.returncode}: {last}")


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes on the CPU")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds to stay within")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    versions = ensure_packages()
    import torch

    device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    bench = Bench(device, args.budget, args.json)
    bench.record("device", torch.cuda.get_device_name() if device == "cuda" else "cpu")
    bench.record("versions", {"torch": torch.__version__, **versions})
    precision_check(bench)
    if args.tiny:
        measure_resolution(bench, TINY_MODEL, VAE_TINY, [3], "tiny", 1, args.compile)
    else:
        from action_images_ros.model.published_transformer import RELEASED_CONFIG

        torch.backends.cuda.matmul.allow_tf32 = True
        for pixels in (512, 256):
            size = {**RELEASED_CONFIG, "height": pixels, "width": pixels}
            measure_resolution(
                bench, size, VAE_5B, [50, 20, 10], f"{pixels}px", 3, args.compile and pixels == 512
            )
            gc.collect()  # the 5B model of this resolution goes before the next one is built
            torch.cuda.empty_cache()
        cuda_tests(bench)
    bench.record("elapsed_s", round(time.perf_counter() - bench.start, 1))
    return bench.report


if __name__ == "__main__":
    main()
