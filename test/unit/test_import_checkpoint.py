"""`action-images import-checkpoint`: every bad input is refused with a clear error, nothing of
it runs, and nothing is left at the output directory."""

from __future__ import annotations

import json
import pathlib
from pathlib import Path

import pytest
import torch
from published_fixtures import PublishedDiT, write_base
from safetensors.torch import load_file, save_file

from action_images_ros.cli import main as cli
from action_images_ros.model import import_checkpoint as importer
from action_images_ros.model.import_checkpoint import import_checkpoint

Z, TEXT = 4, 16
ARGS = ["--views", "a", "b", "--frames", "5", "--size", "32", "--head-dim", "16"]


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = PublishedDiT(dim=32, heads=2, ffn=48, layers=2, channels=Z, text_dim=TEXT, pool=1)
    return {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_base(tmp_path_factory.mktemp("wan22"), z_dim=Z, text_dim=TEXT)


@pytest.fixture
def checkpoint(tmp_path: Path, state: dict[str, torch.Tensor]) -> Path:
    torch.save(state, tmp_path / "step.ckpt")
    return tmp_path / "step.ckpt"


def run(checkpoint: Path, base: Path, out: Path, capsys: pytest.CaptureFixture) -> str:
    """The command's stderr; it must fail and leave nothing at `out` or beside it."""
    with pytest.raises(SystemExit) as exit_info:
        cli(["import-checkpoint", str(checkpoint), "--base", str(base), "--out", str(out), *ARGS])
    assert exit_info.value.code == 1
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.importing-*"))
    return capsys.readouterr().err


def test_import_writes_a_directory_with_the_checkpoints_tensors(
    checkpoint: Path, base: Path, tmp_path: Path, state: dict[str, torch.Tensor]
) -> None:
    out = tmp_path / "model"
    with pytest.raises(SystemExit) as exit_info:
        cli(["import-checkpoint", str(checkpoint), "--base", str(base), "--out", str(out), *ARGS])
    assert exit_info.value.code == 0
    weights = {}
    for file in (out / "denoiser").glob("*.safetensors"):
        weights.update(load_file(file))
    assert len(weights) == len(state) + 1  # + the (zero) task embedding
    assert torch.equal(
        weights["transformer.blocks.1.attn1.to_q.weight"], state["blocks.1.self_attn.q.weight"]
    )
    assert torch.equal(
        weights["transformer.blocks.0.ffn.net.0.proj.bias"], state["blocks.0.ffn.0.bias"]
    )
    assert weights["transformer.blocks.0.cam_encoder.2.weight"].dtype == torch.bfloat16
    policy = json.loads((out / "policy_config.json").read_text())
    assert policy["views"] == ["a", "b"] and policy["frames"] == 5 and policy["center_crop"]
    assert json.loads((out / "sampler_config.json").read_text())["shift"] == 5.0


def test_safetensors_input_is_read_too(
    tmp_path: Path, base: Path, state: dict[str, torch.Tensor]
) -> None:
    save_file(state, str(tmp_path / "step.safetensors"))
    policy = importer.released_policy(frames=5, size=32)
    out = import_checkpoint(tmp_path / "step.safetensors", base, tmp_path / "m", policy, 16)
    assert (out / "denoiser" / "diffusion_pytorch_model.safetensors.index.json").exists()


class Payload:
    """Pickled, it would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickled_code_is_never_run(
    tmp_path: Path, base: Path, state: dict[str, torch.Tensor], capsys: pytest.CaptureFixture
) -> None:
    marker = tmp_path / "ran"
    torch.save({**state, "extra": Payload(marker)}, tmp_path / "evil.ckpt")
    error = run(tmp_path / "evil.ckpt", base, tmp_path / "model", capsys)
    assert "pickled objects other than tensors" in error
    assert not marker.exists()


def test_truncated_file(
    checkpoint: Path, base: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = checkpoint.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    error = run(tmp_path / "cut.ckpt", base, tmp_path / "model", capsys)
    assert "not a complete PyTorch checkpoint" in error


def test_state_dict_of_another_model(
    tmp_path: Path, base: Path, capsys: pytest.CaptureFixture
) -> None:
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 4)).state_dict(), tmp_path / "other.ckpt")
    error = run(tmp_path / "other.ckpt", base, tmp_path / "model", capsys)
    assert "not an Action Images" in error and "patch_embedding.weight" in error


def test_missing_unexpected_and_misshapen_tensors_are_named(
    tmp_path: Path, base: Path, state: dict[str, torch.Tensor], capsys: pytest.CaptureFixture
) -> None:
    broken = dict(state)
    del broken["blocks.1.projector.bias"]
    broken["blocks.0.lora_A.weight"] = torch.zeros(2)
    broken["blocks.1.cross_attn.k.weight"] = torch.zeros(32, 31)
    torch.save(broken, tmp_path / "broken.ckpt")
    error = run(tmp_path / "broken.ckpt", base, tmp_path / "model", capsys)
    assert "1 missing: transformer.blocks.1.projector.bias" in error
    assert "1 unexpected: blocks.0.lora_A.weight" in error
    assert "1 misshapen: blocks.1.cross_attn.k.weight (32, 31) (expected (32, 32))" in error


@pytest.mark.parametrize("part", ["vae", "text_encoder", "tokenizer"])
def test_base_directory_without_a_component(
    checkpoint: Path, base: Path, tmp_path: Path, part: str, capsys: pytest.CaptureFixture
) -> None:
    partial = tmp_path / "base"
    for other in ("vae", "text_encoder", "tokenizer"):
        if other != part:
            (partial / other).mkdir(parents=True)
            for file in (base / other).iterdir():
                (partial / other / file.name).symlink_to(file)
    error = run(checkpoint, partial, tmp_path / "model", capsys)
    assert str(partial / part) in error


def test_vae_of_another_wan_version(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wan21 = write_base(tmp_path / "wan21", z_dim=Z, text_dim=TEXT, spatial=8)
    error = run(checkpoint, wan21, tmp_path / "model", capsys)
    assert "a VAE of another Wan version" in error and "8x spatial" in error


def test_existing_output_is_not_touched(
    checkpoint: Path, base: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit):
        cli(["import-checkpoint", str(checkpoint), "--base", str(base), "--out", str(out), *ARGS])
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_failure_while_writing_leaves_nothing(
    checkpoint: Path, base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fail_on_second_shard(tensors, path, metadata=None) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        save_file(tensors, path, metadata)

    monkeypatch.setattr(importer, "save_file", fail_on_second_shard)
    policy = importer.released_policy(frames=5, size=32)
    with pytest.raises(OSError, match="disk full"):
        import_checkpoint(checkpoint, base, tmp_path / "model", policy, 16, shard_size=10_000)
    assert not (tmp_path / "model").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["step.ckpt"]
