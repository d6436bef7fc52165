"""Model presets: tiny (tests, seconds on a CPU) and small (learns the sim tasks on a CPU), and
the layout of Wan 2.2 TI2V-5B (its diffusers transformer/ and vae/ configs), for building it with
random weights in benchmarks; real 5B weights come from a local directory
(`VideoActionModel.from_wan_backbone`)."""

from __future__ import annotations

from pathlib import Path

# The model trained on the simulated Panda tasks, shipped with the package
# (scripts/reproduce_default_model.sh makes it again).
DEFAULT_CHECKPOINT = Path(__file__).parents[1] / "checkpoints" / "sim_panda_small"

PRESETS: dict[str, dict[str, object]] = {
    "tiny": {
        "frames": 3, "height": 16, "width": 16, "num_layers": 1, "num_attention_heads": 2,
        "attention_head_dim": 16, "ffn_dim": 64, "text_dim": 32,
    },
    "small": {  # a per-view UNet: learns the sim tasks in an hour of CPU (view_unet)
        "frames": 3, "height": 32, "width": 32, "text_dim": 64, "unet_channels": [32, 64, 64],
        "prediction": "sample",
    },
}  # fmt: skip

WAN_2_2_TI2V_5B = {
    "transformer": {
        "num_layers": 30, "num_attention_heads": 24, "attention_head_dim": 128,
        "ffn_dim": 14336, "text_dim": 4096, "freq_dim": 256, "latent_channels": 48,
        "spatial_compression": 16, "temporal_compression": 4,
    },
    "vae": {
        "base_dim": 160, "decoder_base_dim": 256, "z_dim": 48, "dim_mult": [1, 2, 4, 4],
        "num_res_blocks": 2, "temperal_downsample": [False, True, True], "is_residual": True,
        "in_channels": 12, "out_channels": 12, "patch_size": 2, "scale_factor_spatial": 16,
        "scale_factor_temporal": 4, "latents_mean": [0.0] * 48, "latents_std": [1.0] * 48,
    },
}  # fmt: skip
