"""`action-images upgrade-model DIR`: turn a model directory of the old format into the current one.

The old format (before denoiser classes and self-describing directories) is a bare
`config.json` of `VideoActionModel` (a per-view UNet when `unet_channels` is set, else the Wan
transformer) with its safetensors, `tasks.json`, and optionally `vae/`, `text_encoder/`,
`tokenizer/`. The upgrade moves the config (without the settings the denoiser class does not
use) and the weights file, unchanged, into `denoiser/`, writes the scheduler the old code
sampled with (flow matching, shift 3) to `scheduler/`, folds `tasks.json` into
`policy_config.json` with what the old code assumed or was told here (camera names, drawing,
frames of reference), writes `model_index.json`, and loads the result to check it.

    action-images upgrade-model runs/small/model --views front left right
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import diffusers

from action_images_ros.core.action_images import ActionImageConfig
from action_images_ros.model.loading import (
    LEGACY_CLASS,
    WEIGHTS,
    load_denoiser,
    load_model_directory,
)
from action_images_ros.model.pipeline import VideoActionPipeline, default_scheduler
from action_images_ros.model.policy_config import (
    ModelDirectoryError,
    PolicyConfig,
    read_json,
    task_problems,
)
from action_images_ros.model.view_unet import ViewUNetDenoiser
from action_images_ros.model.wan_transformer import WanTransformerDenoiser

UNET_KEYS = ("views", "frames", "height", "width", "text_dim", "num_tasks", "prediction")
DROPPED_FROM_TRANSFORMER = ("unet_channels", "frame_interval")


def legacy_denoiser_config(document: dict) -> tuple[dict, float]:
    """The new denoiser config.json for an old `VideoActionModel` one, and its frame interval."""
    settings = {k: v for k, v in document.items() if not k.startswith("_")}
    frame_interval = float(settings.get("frame_interval", 0.2))
    if settings.get("unet_channels"):
        if settings.get("latent_channels", 3) != 3 or settings.get("spatial_compression", 1) != 1:
            raise ModelDirectoryError("an old per-view UNet config outside pixel space")
        new = {k: settings[k] for k in UNET_KEYS if k in settings}
        new["block_channels"] = list(settings["unet_channels"])
        new.setdefault("prediction", "velocity")  # the old default
        name = ViewUNetDenoiser.__name__
    else:
        new = {k: v for k, v in settings.items() if k not in DROPPED_FROM_TRANSFORMER}
        name = WanTransformerDenoiser.__name__
    return {
        "_class_name": name,
        "_diffusers_version": document.get("_diffusers_version"),
        **new,
    }, frame_interval


def upgrade_model_directory(
    path: Path,
    views: Sequence[str],
    action_images: ActionImageConfig | None = None,
    num_inference_steps: int = 5,
    guidance_scale: float = 1.0,
    base_frame: str = "panda_link0",
    tool_frame: str = "tcp",
) -> list[str]:
    """Upgrade the old-format directory at `path` in place; returns what was done."""
    legacy_path = path / "config.json"
    document = read_json(legacy_path)
    if not isinstance(document, dict) or document.get("_class_name") != LEGACY_CLASS:
        raise ModelDirectoryError(f"{legacy_path} is not an old {LEGACY_CLASS} config")
    if not (path / WEIGHTS).exists():
        raise ModelDirectoryError(f"{path / WEIGHTS} is missing (pickled weights are not read)")
    tasks: object = [""] * 1
    if (path / "tasks.json").exists():
        tasks = read_json(path / "tasks.json")
        problems = task_problems(tasks)
        if problems:
            raise ModelDirectoryError(f"{path / 'tasks.json'}: {'; '.join(problems)}")
    config, frame_interval = legacy_denoiser_config(document)
    slots = int(config.get("num_tasks", 8))
    if len(tasks) > slots:
        raise ModelDirectoryError(
            f"{path / 'tasks.json'}: {len(tasks)} tasks, the model embeds {slots} (id 0 = none)"
        )
    policy = PolicyConfig(
        views=tuple(views),
        frames=config["frames"],
        frame_interval=frame_interval,
        height=config["height"],
        width=config["width"],
        action_images=action_images or ActionImageConfig.paper(),
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        base_frame=base_frame,
        tool_frame=tool_frame,
        tasks=tuple(tasks),
    )
    folder = path / "denoiser"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    try:  # the old weights must fit the new config before anything moves
        denoiser = load_denoiser(folder, weights_folder=path)
    except ModelDirectoryError:
        shutil.rmtree(folder)
        raise
    shutil.move(path / WEIGHTS, folder / WEIGHTS)
    default_scheduler().save_pretrained(path / "scheduler")
    policy.save(path)
    # model_index.json as save_pretrained writes it, without re-writing any weights.
    pipeline = VideoActionPipeline(denoiser=denoiser, scheduler=default_scheduler())
    if (path / "vae" / "config.json").exists():
        pipeline.register_to_config(vae=("diffusers", "AutoencoderKLWan"))
    if (path / "text_encoder" / "config.json").exists():
        encoder = read_json(path / "text_encoder" / "config.json")
        architecture = (encoder.get("architectures") or ["UMT5EncoderModel"])[0]
        pipeline.register_to_config(
            text_encoder=("transformers", architecture), tokenizer=("transformers", "AutoTokenizer")
        )
    index = {k: v for k, v in pipeline.config.items() if k != "_name_or_path"}
    index = {k: list(v) if isinstance(v, tuple) else v for k, v in index.items()}
    index = {
        "_class_name": type(pipeline).__name__,
        "_diffusers_version": diffusers.__version__,
        **{k: v for k, v in index.items() if v != [None, None]},
    }
    (path / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    load_model_directory(path)
    legacy_path.unlink()
    (path / "tasks.json").unlink(missing_ok=True)
    return [
        f"denoiser/: {config['_class_name']} (settings {sorted(k for k in config if k[0] != '_')}"
        f"; dropped {sorted(set(document) - set(config) - {'_name_or_path'})}), weights moved",
        "scheduler/: FlowMatchEulerDiscreteScheduler, shift 3",
        f"policy_config.json: views {list(policy.views)}, frame interval {frame_interval} s, "
        f"tasks {list(policy.tasks)}, drawing {policy.action_images}",
        "model_index.json",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--views",
        nargs="+",
        required=True,
        help="camera names in the model's view order (the training episodes' cameras)",
    )
    parser.add_argument("--num-inference-steps", type=int, default=5)
    parser.add_argument("--guidance-scale", type=float, default=1.0)
    parser.add_argument("--base-frame", default="panda_link0")
    parser.add_argument("--tool-frame", default="tcp")
    parser.add_argument("--sigma-fraction", type=float, default=0.05)
    parser.add_argument("--offset", type=float, default=0.1)
    parser.add_argument("--background", type=float, default=0.25)
    parser.add_argument("--gripper-encoding", choices=["binary", "continuous"], default="binary")
    args = parser.parse_args(argv)
    drawing = ActionImageConfig(
        args.offset, args.sigma_fraction, args.background, args.gripper_encoding
    )
    try:
        done = upgrade_model_directory(
            args.directory,
            args.views,
            drawing,
            args.num_inference_steps,
            args.guidance_scale,
            args.base_frame,
            args.tool_frame,
        )
    except (ModelDirectoryError, ValueError) as error:
        raise SystemExit(f"upgrade-model: {error}") from error
    print(f"upgraded {args.directory}:\n  " + "\n  ".join(done))


if __name__ == "__main__":
    main()
