"""Model presets: tiny (tests, seconds on a CPU) and small (learns the sim tasks on a CPU)."""

from __future__ import annotations

PRESETS: dict[str, dict[str, object]] = {
    "tiny": {
        "frames": 3, "height": 16, "width": 16, "num_layers": 1, "num_attention_heads": 2,
        "attention_head_dim": 16, "ffn_dim": 64, "text_dim": 32,
    },
    "small": {
        "frames": 5, "height": 48, "width": 48, "num_layers": 6, "num_attention_heads": 4,
        "attention_head_dim": 32, "ffn_dim": 512, "text_dim": 64,
    },
}  # fmt: skip
