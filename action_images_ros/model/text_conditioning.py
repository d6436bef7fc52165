"""Text conditioning from a local text encoder (Wan uses UMT5-XXL), only when the user gives one.

Prompts are tokenized and encoded once per distinct prompt (instructions repeat: a task's
instruction is encoded once per run, not per step); embeddings past each prompt's length are
zeroed and padded to `max_length`, as Wan's pipelines do. Without a text encoder the model uses
its learned task embedding instead.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoConfig, AutoTokenizer, T5EncoderModel, UMT5EncoderModel

ENCODERS = {"umt5": UMT5EncoderModel, "t5": T5EncoderModel}


class TextEncoder:
    """A frozen T5-family encoder and its tokenizer, loaded from a local directory."""

    def __init__(self, tokenizer, encoder: torch.nn.Module, max_length: int = 512) -> None:
        self.tokenizer, self.encoder, self.max_length = tokenizer, encoder.eval(), max_length
        self.encoder.requires_grad_(False)
        self._cache: dict[str, torch.Tensor] = {}

    @classmethod
    def from_pretrained(
        cls, path: str | Path, max_length: int = 512, torch_dtype: torch.dtype = torch.float32
    ) -> TextEncoder:
        """`path` holds `text_encoder/` and `tokenizer/` (a diffusers Wan directory), or is
        the encoder's own directory with its tokenizer files. Local files only, safetensors."""
        path = Path(path)
        encoder_dir = path / "text_encoder" if (path / "text_encoder").is_dir() else path
        tokenizer_dir = path / "tokenizer" if (path / "tokenizer").is_dir() else path
        encoder, tokenizer = load_text_components(encoder_dir, tokenizer_dir, torch_dtype)
        return cls(tokenizer, encoder, max_length)

    @property
    def dim(self) -> int:
        return self.encoder.config.d_model

    @torch.no_grad()
    def __call__(self, prompts: list[str]) -> torch.Tensor:
        """(B, max_length, dim) embeddings of `prompts`."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if missing:
            tokens = self.tokenizer(
                missing,
                padding="max_length",
                max_length=self.max_length,
                truncation=True,
                add_special_tokens=True,
                return_attention_mask=True,
                return_tensors="pt",
            )
            device = next(self.encoder.parameters()).device
            mask = tokens.attention_mask.to(device)
            hidden = self.encoder(tokens.input_ids.to(device), mask).last_hidden_state
            hidden = hidden * mask[..., None].to(hidden.dtype)
            self._cache.update(zip(missing, hidden, strict=True))
        return torch.stack([self._cache[p] for p in prompts])


def load_text_components(
    encoder_dir: Path, tokenizer_dir: Path, torch_dtype: torch.dtype = torch.float32
) -> tuple[torch.nn.Module, object]:
    """A T5/UMT5 encoder and its tokenizer from local directories (safetensors only)."""
    if not (encoder_dir / "config.json").exists():
        raise FileNotFoundError(f"no text encoder (config.json) in {encoder_dir}")
    model_type = AutoConfig.from_pretrained(encoder_dir, local_files_only=True).model_type
    if model_type not in ENCODERS:
        raise ValueError(
            f"{encoder_dir} holds a {model_type!r} model; use one of {sorted(ENCODERS)}"
        )
    encoder = ENCODERS[model_type].from_pretrained(
        encoder_dir, local_files_only=True, use_safetensors=True, torch_dtype=torch_dtype
    )
    return encoder, AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
