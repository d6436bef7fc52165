"""Model presets: tiny (tests, seconds on a CPU) and small (learns the sim tasks on a CPU)."""

from __future__ import annotations

PRESETS: dict[str, dict[str, object]] = {
    "tiny": {
        "frames": 3, "height": 16, "width": 16, "num_layers": 1, "num_attention_heads": 2,
        "attention_head_dim": 16, "ffn_dim": 64, "text_dim": 32,
    },
    "small": {
        "frames": 3, "height": 32, "width": 32, "num_layers": 4, "num_attention_heads": 4,
        "attention_head_dim": 32, "ffn_dim": 256, "text_dim": 64,
    },
}  # fmt: skip
