"""Denoiser presets: tiny (a Wan transformer for tests, seconds on a CPU), small (the per-view
UNet that learns the sim tasks on a CPU in an hour), multiview (a UNet per view whose coarse
levels attend across the views, 64 px, 12 frames: a 2.2 s chunk at 0.2 s per frame; hours on
a CPU), and the layout of Wan 2.2 TI2V-5B (its diffusers
transformer/ and vae/ configs), for building it with random weights in benchmarks; real 5B
weights come from a local directory (`WanTransformerDenoiser.from_wan_backbone`)."""

from __future__ import annotations

from pathlib import Path

from action_images_ros.model.denoisers import Denoiser, denoiser_classes

# The model trained on the simulated Panda tasks, shipped with the package
# (scripts/reproduce_default_model.sh makes it again).
DEFAULT_CHECKPOINT = Path(__file__).parents[1] / "checkpoints" / "sim_panda_small"

# preset name -> (denoiser class, its settings besides `views`)
PRESETS: dict[str, tuple[str, dict[str, object]]] = {
    "tiny": (
        "WanTransformerDenoiser",
        {
            "frames": 3,
            "height": 16,
            "width": 16,
            "num_layers": 1,
            "num_attention_heads": 2,
            "attention_head_dim": 16,
            "ffn_dim": 64,
            "text_dim": 32,
        },
    ),
    "small": (
        "ViewUNetDenoiser",
        {  # learns the sim tasks in an hour of CPU (view_unet)
            "frames": 3,
            "height": 32,
            "width": 32,
            "text_dim": 64,
            "block_channels": [32, 64, 64],
            "prediction": "sample",
        },
    ),
    "multiview": (
        "MultiViewUNetDenoiser",
        {  # scripts/reproduce_multiview_model.sh
            "frames": 12,
            "height": 64,
            "width": 64,
            "block_channels": [64, 128, 128],
            "layers_per_block": 1,
            "patch_size": 2,
            "head_dim": 32,
            "text_dim": 64,
            "prediction": "sample",
        },
    ),
}


def build_preset(name: str, views: int, **overrides: object) -> Denoiser:
    """A randomly initialised denoiser of preset `name` for `views` views (settings in
    `overrides` replace the preset's, e.g. frames, height, width)."""
    class_name, settings = PRESETS[name]
    return denoiser_classes()[class_name](views=views, **{**settings, **overrides})


WAN_2_2_TI2V_5B = {
    "transformer": {
        "num_layers": 30,
        "num_attention_heads": 24,
        "attention_head_dim": 128,
        "ffn_dim": 14336,
        "text_dim": 4096,
        "freq_dim": 256,
        "latent_channels": 48,
        "spatial_compression": 16,
        "temporal_compression": 4,
    },
    "vae": {
        "base_dim": 160,
        "decoder_base_dim": 256,
        "z_dim": 48,
        "dim_mult": [1, 2, 4, 4],
        "num_res_blocks": 2,
        "temperal_downsample": [False, True, True],
        "is_residual": True,
        "in_channels": 12,
        "out_channels": 12,
        "patch_size": 2,
        "scale_factor_spatial": 16,
        "scale_factor_temporal": 4,
        "latents_mean": [0.0] * 48,
        "latents_std": [1.0] * 48,
    },
}
