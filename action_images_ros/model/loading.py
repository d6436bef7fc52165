"""One loader for model directories: the policy, its node, label-bag, evaluate and training's
resume all go through `load_model_directory`.

A model directory (written by `ModelBundle.save`, i.e. `VideoActionPipeline.save_pretrained`
plus `policy_config.json`):

    model_index.json            the pipeline's components (diffusers format)
    policy_config.json          views, frames, drawing, steps, frames of reference, tasks
    denoiser/config.json        `_class_name` names the denoiser class; its settings
    denoiser/diffusion_pytorch_model.safetensors
    scheduler/scheduler_config.json
    vae/                        AutoencoderKLWan (latent denoisers only)
    text_encoder/, tokenizer/   optional T5/UMT5 text conditioning
    sampler_config.json         optional: sample with `published_sampler` (the released model)

Only local files are read and only safetensors weights (nothing is unpickled, nothing is
downloaded). Every file is checked against the others before anything runs: a denoiser
config whose layers or sizes differ from its weights, weights of another class than the config
names, a policy config for other views, frames or sizes than the denoiser, more tasks than
task slots, a missing or mismatched scheduler or VAE: each raises ModelDirectoryError naming
the file and the mismatch. What the weights' shapes do not tell (a UNet fits any image size
and view count) is recorded in their safetensors metadata when saved (`built_for`: the class,
views, frames and size) and checked against the config. Directories written before this
format (a bare `config.json` of `VideoActionModel` with `tasks.json`) are refused with the
command that upgrades them (`action-images upgrade-model DIR`, see `upgrade`).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from action_images_ros.model.denoisers import Denoiser, denoiser_classes
from action_images_ros.model.pipeline import VideoActionPipeline, default_scheduler
from action_images_ros.model.policy_config import (
    POLICY_CONFIG,
    ModelDirectoryError,
    PolicyConfig,
    read_json,
)
from action_images_ros.model.published_sampler import SAMPLER_CONFIG, SamplerSettings

WEIGHTS = "diffusion_pytorch_model.safetensors"
WEIGHTS_INDEX = WEIGHTS + ".index.json"
PIPELINE_CLASS = "VideoActionPipeline"
LEGACY_CLASS = "VideoActionModel"
BUILT_FOR_KEY = "action_images_built_for"  # safetensors metadata: see `built_for`


def upgrade_command(path: Path) -> str:
    return f"action-images upgrade-model {path}"


@dataclass
class ModelBundle:
    """A loaded model directory: the pipeline and what the policy needs besides it."""

    pipeline: VideoActionPipeline
    config: PolicyConfig

    @property
    def denoiser(self) -> Denoiser:
        return self.pipeline.denoiser

    def save(self, directory: str | Path) -> Path:
        """Write the whole directory (weights as safetensors)."""
        directory = Path(directory)
        self.pipeline.save_pretrained(directory, safe_serialization=True)
        stamp_built_for(directory / "denoiser", self.denoiser)
        self.config.save(directory)
        if self.pipeline.sampler is not None:
            self.pipeline.sampler.save(directory)
        return directory


def create_model(
    denoiser: Denoiser,
    config: PolicyConfig | None = None,
    *,
    views: list[str] | None = None,
    tasks: list[str] | None = None,
    frame_interval: float = 0.2,
    scheduler: FlowMatchEulerDiscreteScheduler | None = None,
    vae: AutoencoderKLWan | None = None,
    text_encoder: torch.nn.Module | None = None,
    tokenizer: object | None = None,
    sampler: SamplerSettings | None = None,
) -> ModelBundle:
    """A bundle around `denoiser`; without `config`, one that fits it (cameras `views`, default
    view0, view1, ...; `tasks`, default none; the paper's drawing). `sampler`: sample with the
    published sampler instead of the scheduler's loop."""
    c = denoiser.config
    if config is None:
        config = PolicyConfig(
            views=tuple(views or [f"view{i}" for i in range(c.views)]),
            frames=c.frames,
            frame_interval=frame_interval,
            height=c.height,
            width=c.width,
            tasks=tuple(tasks or [""]),
        )
    pipeline = VideoActionPipeline(
        denoiser=denoiser,
        scheduler=scheduler or default_scheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
    )
    pipeline.sampler = sampler
    check_consistent(pipeline, config, Path(POLICY_CONFIG))
    return ModelBundle(pipeline, config)


def load_model_directory(
    path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> ModelBundle:
    """The model directory at `path` on `device` (dtype default: bfloat16 on CUDA, else
    float32), every file checked (see the module docstring)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no model directory at {path} (models load from local files)")
    if dtype is None:
        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    index_path = path / "model_index.json"
    if not index_path.exists():
        legacy = path / "config.json"
        if legacy.exists() and _class_name(legacy) == LEGACY_CLASS:
            raise ModelDirectoryError(
                f"{path} was written before model directories described themselves (it has a "
                f"bare config.json of {LEGACY_CLASS}, no model_index.json, {POLICY_CONFIG}, "
                f"denoiser/ or scheduler/); upgrade it with `{upgrade_command(path)}`"
            )
        raise ModelDirectoryError(f"{index_path} is missing: {path} is not a model directory")
    index = read_json(index_path)
    if not isinstance(index, dict) or index.get("_class_name") != PIPELINE_CLASS:
        raise ModelDirectoryError(f"{index_path} does not describe a {PIPELINE_CLASS}")
    config = PolicyConfig.load(path)
    denoiser = load_denoiser(
        path / "denoiser", _component(index, index_path, "denoiser"), dtype=dtype
    )
    scheduler = _load_scheduler(path / "scheduler", _component(index, index_path, "scheduler"))
    vae = _load_vae(path / "vae", index.get("vae"), index_path)
    text_encoder, tokenizer = _load_text(path, index, index_path, dtype)
    try:
        pipeline = VideoActionPipeline(
            denoiser=denoiser.to(device),
            scheduler=scheduler,
            vae=None if vae is None else vae.to(device, dtype),
            text_encoder=None if text_encoder is None else text_encoder.to(device),
            tokenizer=tokenizer,
        )
    except ValueError as error:
        raise ModelDirectoryError(f"{path}: {error}") from error
    pipeline.sampler = _load_sampler(path / SAMPLER_CONFIG)
    check_consistent(pipeline, config, path / POLICY_CONFIG)
    return ModelBundle(pipeline, config)


def _load_sampler(path: Path) -> SamplerSettings | None:
    if not path.exists():
        return None
    try:
        return SamplerSettings.from_dict(read_json(path), str(path))
    except ValueError as error:
        raise ModelDirectoryError(str(error)) from error


def check_consistent(pipeline: VideoActionPipeline, config: PolicyConfig, source: Path) -> None:
    """The policy config must describe the clips the denoiser was built for."""
    c = pipeline.denoiser.config
    pairs = {
        "views": (len(config.views), c.views),
        "frames": (config.frames, c.frames),
        "height": (config.height, c.height),
        "width": (config.width, c.width),
    }
    wrong = [
        f"{name} {mine} (the denoiser: {theirs})"
        for name, (mine, theirs) in pairs.items()
        if mine != theirs
    ]
    if len(config.tasks) > c.num_tasks:
        wrong.append(f"{len(config.tasks)} tasks (the denoiser embeds {c.num_tasks})")
    if wrong:
        raise ModelDirectoryError(f"{source} does not fit the denoiser: " + ", ".join(wrong))


def built_for(denoiser: Denoiser) -> dict[str, object]:
    """What a denoiser's weights were built for beyond their shapes: its class and the views,
    frames and pixel size of its clips (a UNet's weights fit any size and view count)."""
    c = denoiser.config
    return {
        "class": type(denoiser).__name__,
        "views": c.views,
        "frames": c.frames,
        "height": c.height,
        "width": c.width,
    }


def stamp_built_for(folder: Path, denoiser: Denoiser) -> None:
    """Record `built_for(denoiser)` in the safetensors metadata of the weights in `folder`, so
    that a config.json edited apart from them is caught when loading (`BUILT_FOR_KEY`)."""
    for file in _weight_files(folder):
        with safe_open(file, "pt") as weights:
            metadata = weights.metadata() or {}
        metadata[BUILT_FOR_KEY] = json.dumps(built_for(denoiser), sort_keys=True)
        save_file(load_file(file), file, metadata=metadata)


def _check_built_for(folder: Path, model: Denoiser, config_path: Path) -> None:
    """The weights' recorded `built_for` (if they carry one) must be what the config builds."""
    expected = built_for(model)
    for file in _weight_files(folder):
        with safe_open(file, "pt") as weights:
            recorded = (weights.metadata() or {}).get(BUILT_FOR_KEY)
        if recorded is None:
            continue  # written before the stamp (e.g. an upgraded directory): shapes only
        try:
            found = json.loads(recorded)
        except json.JSONDecodeError as error:
            raise ModelDirectoryError(f"{file}: unreadable {BUILT_FOR_KEY} metadata") from error
        wrong = [
            f"{k} {expected.get(k)!r} (the weights: {v!r})"
            for k, v in sorted(found.items())
            if expected.get(k) != v
        ]
        if wrong:
            raise ModelDirectoryError(
                f"{config_path} describes another denoiser than the weights {file} were "
                "trained as: " + ", ".join(wrong)
            )


def load_denoiser(
    folder: Path,
    indexed_class: str | None = None,
    weights_folder: Path | None = None,
    dtype: torch.dtype = torch.float32,
) -> Denoiser:
    """The denoiser in `folder` in `dtype`: the class its config.json names, its weights (in
    `weights_folder`, default `folder`) checked to be exactly the ones that config builds."""
    config_path = folder / "config.json"
    document = read_json(config_path)
    if not isinstance(document, dict):
        raise ModelDirectoryError(f"{config_path}: expected a JSON object")
    name = document.get("_class_name")
    classes = denoiser_classes()
    if name not in classes:
        raise ModelDirectoryError(
            f"{config_path} names the denoiser {name!r}; known: {', '.join(sorted(classes))}"
        )
    if indexed_class is not None and indexed_class != name:
        raise ModelDirectoryError(
            f"model_index.json names the denoiser {indexed_class!r}, {config_path} {name!r}"
        )
    cls = classes[name]
    settings = {k: v for k, v in document.items() if not k.startswith("_")}
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unused = sorted(set(settings) - accepted)
    if unused:
        raise ModelDirectoryError(f"{config_path}: {name} has no settings {unused}")
    try:
        with init_empty_weights():
            model = cls(**settings)
    except (TypeError, ValueError) as error:
        raise ModelDirectoryError(f"{config_path}: {error}") from error
    weights_folder = weights_folder or folder
    state = _read_weights(weights_folder)
    _check_weights(
        model.state_dict(),
        state,
        f"the weights in {weights_folder}",
        f"the {name} that {config_path} describes",
    )
    _check_built_for(weights_folder, model, config_path)
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def _check_weights(
    expected_state: dict[str, torch.Tensor], state: dict[str, torch.Tensor], what: str, fit: str
) -> None:
    expected = {k: tuple(v.shape) for k, v in expected_state.items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    reshaped = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    problems = []
    if missing:
        problems.append(f"{len(missing)} weights the config needs are missing ({missing[0]}, ...)")
    if unexpected:
        problems.append(f"{len(unexpected)} weights it has no place for ({unexpected[0]}, ...)")
    if reshaped:
        k = reshaped[0]
        problems.append(
            f"{len(reshaped)} of another shape ({k}: {found[k]}, the config builds {expected[k]})"
        )
    if problems:
        raise ModelDirectoryError(f"{what} do not fit {fit}: " + "; ".join(problems))


def _weight_files(folder: Path) -> list[Path]:
    """The safetensors files of the weights in `folder` (one, or the shards of its index)."""
    single, index = folder / WEIGHTS, folder / WEIGHTS_INDEX
    if single.exists():
        return [single]
    if index.exists():
        shards = read_json(index)
        if not isinstance(shards, dict) or not isinstance(shards.get("weight_map"), dict):
            raise ModelDirectoryError(f"{index} has no weight_map")
        return [folder / f for f in sorted(set(shards["weight_map"].values()))]
    pickled = sorted(p.name for p in folder.glob("*.bin")) + sorted(
        p.name for p in folder.glob("*.pt*")
    )
    hint = f" (pickled weights {pickled} are never loaded)" if pickled else ""
    raise ModelDirectoryError(f"{single} is missing{hint}")


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for file in _weight_files(folder):
        try:
            state.update(load_file(file))
        except (SafetensorError, OSError) as error:
            raise ModelDirectoryError(
                f"{file} is not a readable safetensors file: {error}"
            ) from error
    return state


def _load_scheduler(folder: Path, indexed_class: str | None) -> FlowMatchEulerDiscreteScheduler:
    config_path = folder / "scheduler_config.json"
    document = read_json(config_path)
    name = document.get("_class_name") if isinstance(document, dict) else None
    expected = FlowMatchEulerDiscreteScheduler.__name__
    if name != expected or indexed_class not in (None, expected):
        raise ModelDirectoryError(
            f"{config_path} holds a {name!r} scheduler (model_index.json: {indexed_class!r}); "
            f"the pipeline samples with {expected}"
        )
    return FlowMatchEulerDiscreteScheduler.from_config(document)


def _load_vae(folder: Path, entry: object, index_path: Path) -> AutoencoderKLWan | None:
    if entry in (None, [None, None]):
        if folder.exists():
            raise ModelDirectoryError(f"{index_path} lists no VAE but {folder} exists")
        return None
    if not (isinstance(entry, list) and entry[-1] == AutoencoderKLWan.__name__):
        raise ModelDirectoryError(f"{index_path}: vae must be an AutoencoderKLWan, got {entry}")
    config = read_json(folder / "config.json")
    if not isinstance(config, dict) or config.get("_class_name") != AutoencoderKLWan.__name__:
        raise ModelDirectoryError(f"{folder / 'config.json'} is not an AutoencoderKLWan config")
    if not (folder / WEIGHTS).exists() and not (folder / WEIGHTS_INDEX).exists():
        raise ModelDirectoryError(f"{folder / WEIGHTS} is missing")
    return AutoencoderKLWan.from_pretrained(folder, use_safetensors=True, local_files_only=True)


def _load_text(
    path: Path, index: dict, index_path: Path, dtype: torch.dtype
) -> tuple[torch.nn.Module | None, object | None]:
    if index.get("text_encoder") in (None, [None, None]):
        return None, None
    from action_images_ros.model.text_conditioning import load_text_components

    try:
        return load_text_components(path / "text_encoder", path / "tokenizer", dtype)
    except (OSError, ValueError) as error:
        raise ModelDirectoryError(f"{index_path}: its text encoder: {error}") from error


def _component(index: dict, index_path: Path, name: str) -> str | None:
    entry = index.get(name)
    if not (isinstance(entry, list) and len(entry) == 2 and entry[1]):
        raise ModelDirectoryError(f"{index_path} lists no {name}")
    return entry[1]


def _class_name(config_path: Path) -> object:
    try:
        document = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return document.get("_class_name") if isinstance(document, dict) else None
