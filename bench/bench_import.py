"""Memory and time of `action-images import-checkpoint` on a synthetic released checkpoint.

Writes a torch.save file with the released layout (original Wan names, bf16, 3072 wide; the
full file has 30 blocks and 12.8 GB, `--layers` scales it), a base directory with the Wan 2.2
VAE / UMT5 configurations (their weight files are placeholders: the importer only checks and
links them), then runs the import in a fresh process and samples its memory every 10 ms:
anonymous memory (what the import allocates) apart from the memory-mapped checkpoint pages
(file-backed, shared with the page cache). The target: under 2 GB beyond the mapped file.

    python bench/bench_import.py --layers 6 --work /tmp/bench_import
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "unit"))


def write_checkpoint(path: Path, layers: int) -> int:
    """The released layout with `layers` blocks of bf16 tensors; returns its bytes.
    The tensors are backed by scratch files, so writing it needs no RAM of its size."""
    from published_fixtures import PublishedDiT

    with torch.device("meta"):
        model = PublishedDiT(
            dim=3072,
            heads=24,
            ffn=14336,
            layers=layers,
            channels=48,
            text_dim=4096,
            freq_dim=256,
            pool=16,
        )
    scratch = path.parent / "scratch"
    scratch.mkdir()
    state = {}
    for index, (name, value) in enumerate(model.state_dict().items()):
        # One file-backed storage per tensor, as in the released file (no shared storages).
        tensor = torch.from_file(
            str(scratch / f"{index}"), shared=True, size=value.numel(), dtype=torch.bfloat16
        ).view(value.shape)
        tensor.fill_(0.02 * (index % 7 - 3))  # the values do not matter here, only the bytes
        state[name] = tensor
    torch.save(state, path)
    del state
    shutil.rmtree(scratch)
    return path.stat().st_size


def write_base(path: Path) -> Path:
    (path / "vae").mkdir(parents=True)
    (path / "vae" / "config.json").write_text(
        json.dumps(
            {
                "_class_name": "AutoencoderKLWan",
                "z_dim": 48,
                "scale_factor_spatial": 16,
                "scale_factor_temporal": 4,
            }
        )
    )
    save_file({"placeholder": torch.zeros(1)}, str(path / "vae" / "model.safetensors"))
    (path / "text_encoder").mkdir()
    (path / "text_encoder" / "config.json").write_text(
        json.dumps({"model_type": "umt5", "d_model": 4096})
    )
    save_file({"placeholder": torch.zeros(1)}, str(path / "text_encoder" / "model.safetensors"))
    (path / "tokenizer").mkdir()
    (path / "tokenizer" / "tokenizer_config.json").write_text("{}")
    return path


def memory(pid: int) -> dict[str, int]:
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmRSS"):
                fields[key] = int(value.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=30, help="blocks (30: the full 12.8 GB)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_import"))
    parser.add_argument("--shard-mb", type=int, default=1024)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    begin = time.perf_counter()
    size = write_checkpoint(args.work / "step.ckpt", args.layers)
    print(
        f"checkpoint: {args.layers} blocks, {size / 1e9:.2f} GB, written in "
        f"{time.perf_counter() - begin:.0f} s"
    )
    base = write_base(args.work / "base")
    command = [
        sys.executable,
        "-m",
        "action_images_ros.cli",
        "import-checkpoint",
        str(args.work / "step.ckpt"),
        "--base",
        str(base),
        "--out",
        str(args.work / "model"),
        "--shard-mb",
        str(args.shard_mb),
    ]
    begin = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT)
    peaks: dict[str, int] = {}

    def sample() -> None:
        while process.poll() is None:
            for key, value in memory(process.pid).items():
                peaks[key] = max(peaks.get(key, 0), value)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = process.wait()
    sampler.join()
    seconds = time.perf_counter() - begin
    written = sum(f.stat().st_size for f in (args.work / "model").rglob("*") if f.is_file())
    print(f"import: exit {code}, {seconds:.1f} s, wrote {written / 1e9:.2f} GB")
    print(
        f"peak anonymous memory (beyond the mapped file): {peaks.get('RssAnon', 0) / 2**30:.2f} "
        f"GiB; peak file-backed: {peaks.get('RssFile', 0) / 2**30:.2f} GiB; peak RSS: "
        f"{peaks.get('VmRSS', 0) / 2**30:.2f} GiB"
    )
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
