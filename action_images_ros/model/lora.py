"""LoRA fine-tuning of the transformer (peft, through diffusers' adapter support).

Only the low-rank adapters on the attention projections train; the backbone stays frozen, so a
large pretrained transformer fits a small GPU and a small dataset. Adapters are saved and loaded
as safetensors.
"""

from __future__ import annotations

from pathlib import Path

from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file

from action_images_ros.model.wan_transformer import WanTransformerDenoiser

ATTENTION = ["to_q", "to_k", "to_v", "to_out.0"]
ADAPTER_FILE = "lora_adapter.safetensors"


def add_lora(model: WanTransformerDenoiser, rank: int = 16, alpha: float | None = None) -> int:
    """Freeze `model`, add LoRA adapters to its attention projections; returns the number of
    trainable parameters. The task embedding stays trainable (new tasks need new embeddings)."""
    model.requires_grad_(False)
    config = LoraConfig(
        r=rank, lora_alpha=alpha or rank, target_modules=ATTENTION, init_lora_weights=True
    )
    model.transformer.add_adapter(config)
    model.task_embedding.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_lora(model: WanTransformerDenoiser, directory: str | Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(model.transformer)
    state.update({f"task_embedding.{k}": v for k, v in model.task_embedding.state_dict().items()})
    path = directory / ADAPTER_FILE
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, path)
    return path


def load_lora(model: WanTransformerDenoiser, directory: str | Path, rank: int = 16) -> None:
    """Add adapters to `model` and load their weights from `directory`."""
    path = Path(directory) / ADAPTER_FILE
    if not path.exists():
        raise FileNotFoundError(f"no LoRA adapter at {path}")
    add_lora(model, rank)
    state = load_file(path)
    embedding = {
        k.removeprefix("task_embedding."): v
        for k, v in state.items()
        if k.startswith("task_embedding.")
    }
    model.task_embedding.load_state_dict(embedding)
    adapters = {k: v for k, v in state.items() if not k.startswith("task_embedding.")}
    result = set_peft_model_state_dict(model.transformer, adapters)
    if result.unexpected_keys:
        raise ValueError(f"{path} does not fit this model: {result.unexpected_keys[:3]}")
