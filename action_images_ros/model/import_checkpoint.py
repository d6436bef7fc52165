"""`action-images import-checkpoint CKPT --base DIR --out DIR`: the released Action Images
checkpoint as a model directory (see `loading`) that the policy node, label-bag and evaluate
load like any other.

CKPT is the released `step125750.ckpt` (a `torch.save` of the DiT's state dict in the original
Wan key names plus per-block `cam_encoder.2` and `projector`) or a safetensors file of the same
tensors. It is read with `torch.load(weights_only=True, mmap=True)`: the restricted unpickler
builds tensors only (a file with any other pickled object is refused without running it) and the
tensor data stays memory-mapped, so the import holds about one output shard in memory at a time
(`shard_size`), not the 12.8 GB. The original Wan names are renamed to diffusers' (as diffusers'
Wan conversion does); the model's sizes are read from the tensors' shapes; every tensor's name
and shape is checked against the `PublishedTransformerDenoiser` those sizes build, and a file
with missing, unexpected or misshapen tensors is refused, naming them. The VAE, text encoder and
tokenizer come from a local Wan2.2-TI2V-5B diffusers directory (`--base`), checked to fit (Wan
2.2's 48-channel 16x VAE, a T5/UMT5 encoder of the checkpoint's text width). The directory is
written next to `--out` under a temporary name and renamed into place at the end: on any error
nothing is left at `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import init_empty_weights
from diffusers import FlowMatchEulerDiscreteScheduler
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from action_images_ros.model.loading import PIPELINE_CLASS, WEIGHTS, WEIGHTS_INDEX
from action_images_ros.model.policy_config import PolicyConfig
from action_images_ros.model.published_sampler import PUBLISHED_SHIFT, SamplerSettings
from action_images_ros.model.published_transformer import (
    RELEASED_CONFIG,
    PublishedTransformerDenoiser,
)

# Original Wan names -> diffusers' (applied in this order to every name, as diffusers' own Wan
# conversion does; norm2 and norm3 trade places: Wan's norm3 is the cross-attention norm).
RENAMES: tuple[tuple[str, str], ...] = (
    ("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
    ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
    ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
    ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
    ("time_projection.1", "condition_embedder.time_proj"),
    ("head.modulation", "scale_shift_table"),
    ("head.head", "proj_out"),
    ("modulation", "scale_shift_table"),
    ("ffn.0", "ffn.net.0.proj"),
    ("ffn.2", "ffn.net.2"),
    ("norm2", "norm__swap"),
    ("norm3", "norm2"),
    ("norm__swap", "norm3"),
    ("self_attn.q", "attn1.to_q"),
    ("self_attn.k", "attn1.to_k"),
    ("self_attn.v", "attn1.to_v"),
    ("self_attn.o", "attn1.to_out.0"),
    ("self_attn.norm_q", "attn1.norm_q"),
    ("self_attn.norm_k", "attn1.norm_k"),
    ("cross_attn.q", "attn2.to_q"),
    ("cross_attn.k", "attn2.to_k"),
    ("cross_attn.v", "attn2.to_v"),
    ("cross_attn.o", "attn2.to_out.0"),
    ("cross_attn.norm_q", "attn2.norm_q"),
    ("cross_attn.norm_k", "attn2.norm_k"),
)
PREFIX = "transformer."  # the denoiser holds the Wan transformer under this name
FILLED = ("task_embedding.weight",)  # ours, not in the checkpoint: zeros (text conditions it)
SIZE_KEYS = {
    "patch_embedding.weight": "the patch embedding",
    "head.head.weight": "the output head",
    "text_embedding.0.weight": "the text embedding",
    "time_embedding.0.weight": "the time embedding",
    "blocks.0.ffn.0.weight": "the feed-forward width",
    "blocks.0.cam_encoder.2.weight": "the camera encoder",
}
SHOWN = 8  # names listed per kind of problem
ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint or base directory that cannot be imported; the message says why."""


def diffusers_name(original: str) -> str:
    """The denoiser's name for a tensor of the released checkpoint."""
    name = original
    for old, new in RENAMES:
        name = name.replace(old, new)
    return PREFIX + name


@dataclass
class Checkpoint:
    """A checkpoint's tensors, read lazily: `shapes` by name, `tensor(name)` on demand."""

    path: Path
    shapes: dict[str, tuple[int, ...]]
    _tensors: dict[str, torch.Tensor] | None = None
    _safetensors: object | None = None

    def tensor(self, name: str) -> torch.Tensor:
        if self._tensors is not None:
            return self._tensors[name]
        return self._safetensors.get_tensor(name)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The tensors of a torch.save zip file (restricted unpickler, memory-mapped) or of a
    safetensors file; CheckpointError for anything else (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    with path.open("rb") as file:
        magic = file.read(4)
    if magic == ZIP_MAGIC:
        return _read_torch(path)
    try:
        handle = safe_open(str(path), framework="pt")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is neither a PyTorch checkpoint (torch.save zip) nor a safetensors file: "
            f"{error}"
        ) from error
    shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}  # noqa: SIM118
    return Checkpoint(path, shapes, _safetensors=handle)


def _read_torch(path: Path) -> Checkpoint:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path} holds pickled objects other than tensors; refused without running them "
            f"({first})"
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path} is not a complete PyTorch checkpoint (truncated or damaged?): {error}"
        ) from error
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict")
    others = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if others or not all(isinstance(k, str) for k in state):
        raise CheckpointError(
            f"{path} is not a state dict of tensors (entries that are not: {others[:SHOWN]})"
        )
    shapes = {name: tuple(tensor.shape) for name, tensor in state.items()}
    return Checkpoint(path, shapes, _tensors=state)


def infer_config(
    shapes: dict[str, tuple[int, ...]], attention_head_dim: int = 128
) -> dict[str, object]:
    """The PublishedTransformerDenoiser sizes of a checkpoint, from its tensors' shapes (the
    heads from `attention_head_dim`, Wan's 128). Clip settings (views, frames, size) are the
    published ones; CheckpointError when the file lacks the tensors that tell the sizes."""
    missing = sorted(set(SIZE_KEYS) - set(shapes))
    if missing:
        what = ", ".join(f"{k} ({SIZE_KEYS[k]})" for k in missing)
        raise CheckpointError(
            f"not an Action Images (Wan 2.2 + camera encoder) checkpoint: it lacks {what}; "
            f"its tensors start {sorted(shapes)[:SHOWN]}"
        )
    try:
        dim, channels, _, patch, _ = shapes["patch_embedding.weight"]
        _, text_dim = shapes["text_embedding.0.weight"]
        _, freq_dim = shapes["time_embedding.0.weight"]
        ffn_dim, _ = shapes["blocks.0.ffn.0.weight"]
        _, camera_in = shapes["blocks.0.cam_encoder.2.weight"]
    except ValueError as error:
        raise CheckpointError(f"tensors of unexpected rank in the checkpoint: {error}") from error
    pool = round((camera_in / channels) ** 0.5)
    if channels * pool * pool != camera_in or dim % attention_head_dim:
        raise CheckpointError(
            f"the camera encoder takes {camera_in} features, not {channels} latent channels x a "
            f"square pool, or the width {dim} is not a multiple of the head size "
            f"{attention_head_dim}"
        )
    layers = {int(m.group(1)) for k in shapes if (m := re.match(r"blocks\.(\d+)\.", k))}
    return {
        **RELEASED_CONFIG,
        "num_layers": max(layers) + 1,
        "attention_head_dim": attention_head_dim,
        "num_attention_heads": dim // attention_head_dim,
        "ffn_dim": ffn_dim,
        "text_dim": text_dim,
        "freq_dim": freq_dim,
        "latent_channels": channels,
        "patch_size": patch,
        "camera_pool_size": pool,
    }


def expected_layout(config: dict[str, object]) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor the checkpoint must hold for `config` (meta device)."""
    with init_empty_weights():
        model = PublishedTransformerDenoiser(**config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if k not in FILLED}


def plan_import(shapes: dict[str, tuple[int, ...]], config: dict[str, object]) -> dict[str, str]:
    """Denoiser name -> checkpoint name for every tensor, after checking that the checkpoint
    holds exactly the tensors `config` needs, each of its shape; CheckpointError naming the
    missing, unexpected and misshapen ones otherwise."""
    expected = expected_layout(config)
    plan: dict[str, str] = {}
    unexpected, misshapen = [], []
    for original, shape in shapes.items():
        name = diffusers_name(original)
        if name not in expected or name in plan:
            unexpected.append(original)
        elif expected[name] != shape:
            misshapen.append(f"{original} {shape} (expected {expected[name]})")
        else:
            plan[name] = original
    missing = sorted(set(expected) - set(plan) - {diffusers_name(m.split()[0]) for m in misshapen})
    problems = []
    for label, names in (
        ("missing", missing),
        ("unexpected", sorted(unexpected)),
        ("misshapen", sorted(misshapen)),
    ):
        if names:
            more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
            problems.append(f"{len(names)} {label}: {', '.join(names[:SHOWN])}{more}")
    if problems:
        raise CheckpointError(
            "the checkpoint does not fit the published model: " + "; ".join(problems)
        )
    return plan


def check_base(base: str | Path, config: dict[str, object]) -> Path:
    """The local Wan2.2-TI2V-5B diffusers directory, checked to hold a VAE, text encoder and
    tokenizer that fit `config`; CheckpointError naming what is missing or of another kind."""
    base = Path(base)
    if not base.is_dir():
        raise CheckpointError(f"no base directory at {base}")
    vae = _json(base / "vae" / "config.json", "the VAE (Wan 2.2's AutoencoderKLWan)")
    if vae.get("_class_name") != "AutoencoderKLWan":
        raise CheckpointError(f"{base / 'vae'} holds a {vae.get('_class_name')!r}, not a Wan VAE")
    found = (vae.get("z_dim"), vae.get("scale_factor_spatial"), vae.get("scale_factor_temporal"))
    wanted = (
        config["latent_channels"],
        config["spatial_compression"],
        config["temporal_compression"],
    )
    if found != wanted:
        raise CheckpointError(
            f"{base / 'vae'} is a VAE of another Wan version: {found[0]} latent channels, "
            f"{found[1]}x spatial, {found[2]}x temporal; the checkpoint's transformer needs "
            f"{wanted[0]} channels, {wanted[1]}x, {wanted[2]}x (the Wan 2.2 TI2V-5B VAE)"
        )
    _require_weights(base / "vae")
    text = _json(base / "text_encoder" / "config.json", "the text encoder (UMT5)")
    if text.get("model_type") not in ("umt5", "t5") or text.get("d_model") != config["text_dim"]:
        raise CheckpointError(
            f"{base / 'text_encoder'} holds a {text.get('model_type')!r} of width "
            f"{text.get('d_model')}; the checkpoint needs a T5/UMT5 encoder of width "
            f"{config['text_dim']}"
        )
    _require_weights(base / "text_encoder")
    tokenizer = base / "tokenizer"
    names = ("tokenizer.json", "spiece.model", "tokenizer_config.json")
    if not any((tokenizer / n).is_file() for n in names):
        raise CheckpointError(f"{tokenizer} holds no tokenizer (none of {', '.join(names)})")
    return base


def _json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(f"the base directory lacks {what}: {path} is missing")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return document


def _require_weights(folder: Path) -> None:
    if not any(folder.glob("*.safetensors")):
        raise CheckpointError(f"{folder} has no safetensors weights (pickled ones are not read)")


def import_checkpoint(
    checkpoint: str | Path,
    base: str | Path,
    out: str | Path,
    policy: PolicyConfig | None = None,
    attention_head_dim: int = 128,
    shard_size: int = 2**30,
) -> Path:
    """Write the model directory `out` for `checkpoint` with the VAE, text encoder and
    tokenizer of `base` (see the module docstring); `policy` default: `released_policy()` at
    the published clip size. Returns `out`; on any error nothing is left there."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CheckpointError(f"{out} exists and is not empty; choose a new directory")
    source = read_checkpoint(checkpoint)
    config = infer_config(source.shapes, attention_head_dim)
    policy = policy or released_policy()
    config.update(
        views=len(policy.views), frames=policy.frames, height=policy.height, width=policy.width
    )
    plan = plan_import(source.shapes, config)
    base = check_base(base, config)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.importing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write(staging, source, plan, config, base, policy, shard_size)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def released_policy(
    views: Sequence[str] = ("view0", "view1"),
    num_inference_steps: int = 50,
    guidance_scale: float = 5.0,
    frames: int = int(RELEASED_CONFIG["frames"]),
    size: int = int(RELEASED_CONFIG["height"]),
) -> PolicyConfig:
    """The published settings: 2 views, 41 frames at 5 Hz, 512 px centre crops, 50 steps,
    guidance 5 (the published default; its inference script used 7.5), the paper's drawing."""
    return PolicyConfig(
        views=tuple(views),
        frames=frames,
        frame_interval=0.2,
        height=size,
        width=size,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        center_crop=True,
    )


def _write(
    folder: Path,
    source: Checkpoint,
    plan: dict[str, str],
    config: dict[str, object],
    base: Path,
    policy: PolicyConfig,
    shard_size: int,
) -> None:
    import diffusers

    denoiser = folder / "denoiser"
    denoiser.mkdir(parents=True)
    with init_empty_weights():
        model = PublishedTransformerDenoiser(**config)
    model.save_config(denoiser)
    filled = {
        name: torch.zeros(model.state_dict()[name].shape, dtype=_dtype(source, plan))
        for name in FILLED
    }
    shards = list(_shards(source, plan, filled, shard_size))
    weight_map = {}
    for index, (names, tensors) in enumerate(shards):
        file = WEIGHTS.replace(".safetensors", f"-{index + 1:05d}-of-{len(shards):05d}.safetensors")
        save_file(tensors, str(denoiser / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(names, file))
        del tensors
    total = sum(source.tensor(plan[n]).nbytes for n in plan)
    (denoiser / WEIGHTS_INDEX).write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n"
    )
    FlowMatchEulerDiscreteScheduler(shift=PUBLISHED_SHIFT).save_pretrained(folder / "scheduler")
    for part in ("vae", "text_encoder", "tokenizer"):
        shutil.copytree(base / part, folder / part, copy_function=_link_or_copy)
    tokenizer_class = _tokenizer_class(base / "tokenizer")
    text_class = (
        "UMT5EncoderModel"
        if _json(base / "text_encoder" / "config.json", "the text encoder").get("model_type")
        == "umt5"
        else "T5EncoderModel"
    )
    index = {
        "_class_name": PIPELINE_CLASS,
        "_diffusers_version": diffusers.__version__,
        "denoiser": ["action_images_ros", PublishedTransformerDenoiser.__name__],
        "scheduler": ["diffusers", FlowMatchEulerDiscreteScheduler.__name__],
        "text_encoder": ["transformers", text_class],
        "tokenizer": ["transformers", tokenizer_class],
        "vae": ["diffusers", "AutoencoderKLWan"],
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    policy.save(folder)
    SamplerSettings().save(folder)


def _dtype(source: Checkpoint, plan: dict[str, str]) -> torch.dtype:
    return source.tensor(plan[next(iter(sorted(plan)))]).dtype


def _shards(
    source: Checkpoint, plan: dict[str, str], filled: dict[str, torch.Tensor], shard_size: int
) -> Iterator[tuple[list[str], dict[str, torch.Tensor]]]:
    """Groups of (name -> tensor) of about `shard_size` bytes, each read when it is written."""
    names = sorted(plan) + sorted(filled)
    group, size = [], 0
    sizes = {n: (filled[n] if n in filled else source.tensor(plan[n])).nbytes for n in names}
    for name in names:
        if group and size + sizes[name] > shard_size:
            yield group, _load(source, plan, filled, group)
            group, size = [], 0
        group.append(name)
        size += sizes[name]
    if group:
        yield group, _load(source, plan, filled, group)


def _load(
    source: Checkpoint, plan: dict[str, str], filled: dict[str, torch.Tensor], names: list[str]
) -> dict[str, torch.Tensor]:
    return {n: (filled[n] if n in filled else source.tensor(plan[n])).contiguous() for n in names}


def _tokenizer_class(folder: Path) -> str:
    config = folder / "tokenizer_config.json"
    if config.is_file():
        name = json.loads(config.read_text()).get("tokenizer_class")
        if isinstance(name, str):
            return name
    return "AutoTokenizer"


def _link_or_copy(source: str, target: str) -> str:
    """A hard link where the file system allows (the text encoder is ~11 GB), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="action-images import-checkpoint",
        description="Import the released Action Images checkpoint as a model directory.",
    )
    parser.add_argument("checkpoint", type=Path, help="step125750.ckpt or a .safetensors file")
    parser.add_argument(
        "--base",
        type=Path,
        required=True,
        help="local Wan2.2-TI2V-5B diffusers directory (vae/, text_encoder/, tokenizer/)",
    )
    parser.add_argument("--out", type=Path, required=True, help="model directory to write")
    parser.add_argument(
        "--views",
        nargs="+",
        default=["view0", "view1"],
        help="camera names of the model's views, conditioning view first",
    )
    parser.add_argument("--steps", type=int, default=50, help="default denoising steps")
    parser.add_argument("--guidance", type=float, default=5.0, help="default guidance scale")
    parser.add_argument("--frames", type=int, default=RELEASED_CONFIG["frames"])
    parser.add_argument(
        "--size", type=int, default=RELEASED_CONFIG["height"], help="square image size [px]"
    )
    parser.add_argument("--head-dim", type=int, default=128, help="attention head size")
    parser.add_argument("--shard-mb", type=int, default=1024, help="largest weight file [MiB]")
    args = parser.parse_args(argv)
    try:
        policy = released_policy(args.views, args.steps, args.guidance, args.frames, args.size)
        out = import_checkpoint(
            args.checkpoint, args.base, args.out, policy, args.head_dim, args.shard_mb * 2**20
        )
    except (CheckpointError, ValueError) as error:
        print(f"import-checkpoint: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0
