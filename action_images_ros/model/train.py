"""Train the video-action model on episodes, with accelerate.

    python -m action_images_ros.model.train --config tiny --episodes episodes/ --out runs/tiny
    python -m action_images_ros.model.train --backbone /models/Wan2.2-TI2V-5B-Diffusers \
        --frames 5 --size 512 --lora-rank 32 --episodes episodes/ --out runs/wan5b
    accelerate launch -m action_images_ros.model.train ...   # several GPUs / machines

Each step draws a mode per sample (by default policy 45 %, policy with a given prefix of future
action frames 15 % (real-time chunking, `modes.POLICY_GIVEN_PREFIX`), labeling 15 %,
action-conditioned video 15 %, video 10 %; `--mode-mix`) and minimises the flow-matching loss
on the frames that mode generates (action frames weighted by `--action-weight`: their few
blobs carry the policy), with warm-up and cosine decay; 10 % of the samples drop their task
(or prompt) so that classifier-free guidance has an unconditional model. Batches are drawn
with replacement (`--balance-tasks`: every task equally often) from a seeded generator whose
state, like the noise generator's, each checkpoint stores: `--resume` continues exactly as
the uninterrupted run would have (model, optimizer, schedule, generators and step).

`--backbone` starts from the transformer of a local diffusers Wan directory and trains in its
VAE's latent space, fully or with LoRA adapters (`--lora-rank`); `--text-encoder` (a local
directory, e.g. the backbone's own) conditions on the episodes' instructions instead of task
ids, each encoded once.

Devices, mixed precision (`--mixed-precision bf16`) and gradient accumulation come from
accelerate. Checkpoints (`<out>/checkpoint-<step>/`) hold the model (a model directory, see
`loading`; LoRA runs: the adapters), the optimizer state (safetensors + JSON: never pickle) and
the step; `--resume` continues from the newest (through the one loader). The final model goes
to `<out>/model`, a complete model directory (`vae/`, `text_encoder/` and `tokenizer/` where
used; the policy config names the episodes' cameras, their action-image drawing, the frame
interval and the tasks), so it deploys as it is; the loss curve to `<out>/loss.png`.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file
from torch.utils.data import default_collate
from tqdm import tqdm

from action_images_ros.data.episode import find_episodes, read_episode
from action_images_ros.model.config import PRESETS, build_preset
from action_images_ros.model.dataset import EpisodeClips
from action_images_ros.model.denoisers import Denoiser
from action_images_ros.model.latent_space import WanLatentSpace, clip_space
from action_images_ros.model.loading import create_model, load_model_directory
from action_images_ros.model.lora import add_lora, load_lora, save_lora
from action_images_ros.model.modes import POLICY_GIVEN_PREFIX, Mode
from action_images_ros.model.objective import flow_matching_loss
from action_images_ros.model.policy_config import PolicyConfig
from action_images_ros.model.text_conditioning import TextEncoder
from action_images_ros.model.wan_transformer import WanTransformerDenoiser

MODE_MIX: dict[Mode | str, float] = {
    Mode.POLICY: 0.45,
    POLICY_GIVEN_PREFIX: 0.15,
    Mode.ACTION_LABELING: 0.15,
    Mode.ACTION_CONDITIONED_VIDEO: 0.15,
    Mode.VIDEO: 0.1,
}


def save_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> None:
    """The optimizer state as safetensors (tensors) + JSON (everything else)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    save_file(tensors, directory / "optimizer.safetensors")
    document = {"param_groups": state["param_groups"], "scalars": scalars}
    (directory / "optimizer.json").write_text(json.dumps(document))


def load_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> None:
    tensors = load_file(directory / "optimizer.safetensors")
    document = json.loads((directory / "optimizer.json").read_text())
    state: dict[int, dict] = {}
    for name, value in {**tensors, **document["scalars"]}.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": document["param_groups"]})


def save_generators(generators: dict[str, torch.Generator], directory: Path) -> None:
    """The random generators' states as safetensors (uint8 tensors)."""
    save_file({k: g.get_state() for k, g in generators.items()}, directory / "rng.safetensors")


def load_generators(generators: dict[str, torch.Generator], directory: Path) -> None:
    """Restore the states `save_generators` wrote (a checkpoint must have them all)."""
    path = directory / "rng.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the checkpoint has no random generator states")
    states = load_file(path)
    missing = sorted(set(generators) - set(states))
    if missing:
        raise ValueError(f"{path}: no state for the generators {missing}")
    for name, generator in generators.items():
        generator.set_state(states[name])


def parse_mode_mix(items: Sequence[str]) -> dict[Mode | str, float]:
    """`policy=0.8 action_labeling=0.2` -> {Mode.POLICY: 0.8, ...}; unnamed modes get 0.
    Besides the modes, `policy_given_prefix` is the policy mode with a given prefix of future
    action frames (real-time chunking)."""
    mix: dict[Mode | str, float] = {}
    for item in items:
        name, _, weight = item.partition("=")
        try:
            mix[name if name == POLICY_GIVEN_PREFIX else Mode(name)] = float(weight)
        except ValueError as error:
            choices = ", ".join([*(m.value for m in Mode), POLICY_GIVEN_PREFIX])
            raise argparse.ArgumentTypeError(
                f"--mode-mix takes MODE=WEIGHT with MODE one of {choices}; got {item!r}"
            ) from error
    if not mix or min(mix.values()) < 0 or sum(mix.values()) <= 0:
        raise argparse.ArgumentTypeError(f"--mode-mix needs positive weights, got {items}")
    return mix


def draw_modes(
    names: list[Mode | str], frames: int, generator: torch.Generator
) -> tuple[list[Mode], list[int]]:
    """The mode and the number of given future action frames of each drawn mix entry:
    `policy_given_prefix` is the policy mode with 1..frames-2 of them (drawn uniformly), as
    the policy is asked when it continues the running plan (`chunk_merge: inpaint`). With
    fewer than 3 frames (e.g. 2 latent frames) no prefix fits: it is the plain policy mode."""
    modes, prefixes = [], []
    for name in names:
        if name == POLICY_GIVEN_PREFIX:
            modes.append(Mode.POLICY)
            drawn = torch.randint(1, frames - 1, (), generator=generator) if frames >= 3 else 0
            prefixes.append(int(drawn))
        else:
            modes.append(Mode(name))
            prefixes.append(0)
    return modes, prefixes


def learning_rate(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up over `--warmup` steps, then cosine decay to zero at `--steps`: a function
    of the step alone, so resuming needs no scheduler state."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def build_model(
    args: argparse.Namespace, resume: Path | None
) -> tuple[Denoiser, WanLatentSpace | None]:
    """The denoiser to train (a preset, or a Wan backbone with optional LoRA) and its VAE."""
    if args.backbone is None:
        if resume is not None:
            return load_model_directory(resume / "model").denoiser, None
        torch.manual_seed(args.seed)
        sizes = (
            ("frames", args.frames),
            ("height", args.size),
            ("width", args.size),
            ("num_tasks", getattr(args, "num_tasks", None)),
        )
        return build_preset(args.config, args.views, **{k: v for k, v in sizes if v}), None
    if not (args.frames and args.size):
        raise SystemExit("--backbone needs --frames and --size (the pixel clips to train on)")
    vae = WanLatentSpace.from_pretrained(args.backbone)
    if resume is not None and not args.lora_rank:
        return load_model_directory(resume / "model").denoiser, vae
    model = WanTransformerDenoiser.from_wan_backbone(
        args.backbone, args.views, args.frames, args.size, args.size
    )
    if args.lora_rank and resume is not None:
        load_lora(model, resume, args.lora_rank)
    elif args.lora_rank:
        add_lora(model, args.lora_rank)
    return model, vae


def episodes_policy_config(
    episodes: Path, model: Denoiser, frame_interval: float, prompts: list[str]
) -> PolicyConfig:
    """The policy config of a model trained on `episodes`: their cameras and their drawing,
    which must be the same in every episode (the model learns one drawing)."""
    metas = [read_episode(p, load_video=False) for p in find_episodes(episodes)]
    cameras = {tuple(m.cameras) for m in metas}
    drawings = {m.action_image_config for m in metas}
    if len(cameras) != 1 or len(drawings) != 1:
        raise ValueError(
            f"the episodes in {episodes} mix cameras {sorted(cameras)} or action-image drawings "
            f"{sorted(map(str, drawings))}; a model is trained on one of each"
        )
    c = model.config
    return PolicyConfig(
        views=cameras.pop(),
        frames=c.frames,
        frame_interval=frame_interval,
        height=c.height,
        width=c.width,
        action_images=drawings.pop(),
        tasks=tuple(prompts),
    )


def train(args: argparse.Namespace) -> list[float]:
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation,
        cpu=args.cpu,
    )
    out: Path = args.out
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    resume = checkpoints[-1] if args.resume and checkpoints else None
    state = {"step": 0, "losses": []}
    if resume is not None:
        state = json.loads((resume / "trainer_state.json").read_text())
    model, vae = build_model(args, resume)
    space = clip_space(model, vae)
    if vae is not None:
        vae.vae.to(accelerator.device)
    dataset = EpisodeClips(args.episodes, model, args.frame_interval, args.hold_last_frame)
    prompts = ["", *dataset.tasks]
    policy_config = episodes_policy_config(args.episodes, model, args.frame_interval, prompts)
    text = TextEncoder.from_pretrained(args.text_encoder) if args.text_encoder else None
    prompt_table = None
    if text is not None:
        text.encoder.to(accelerator.device)
        prompt_table = text(prompts)  # each instruction encoded once
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    if resume is not None:
        load_optimizer(optimizer, resume)
    model, optimizer = accelerator.prepare(model, optimizer)
    modes, weights = list(args.mode_mix), torch.tensor(list(args.mode_mix.values()))
    windows = dataset.task_balancing_weights() if args.balance_tasks else torch.ones(len(dataset))
    # Two generators: which windows a batch holds (`data`), and its modes, condition dropout,
    # noise levels and noise (`noise`). Checkpoints store both, so that a resumed run draws
    # exactly what the uninterrupted one would have (one process; with several, each
    # process's are seeded from the seed, the step and the process index).
    offset = accelerator.process_index * 1_000_003
    data = torch.Generator().manual_seed(args.seed + offset + 1)
    generator = torch.Generator().manual_seed(args.seed + offset)
    if resume is not None and accelerator.num_processes == 1:
        load_generators({"data": data, "noise": generator}, resume)
    elif resume is not None:
        data.manual_seed(args.seed + offset + 1 + 7919 * state["step"])
        generator.manual_seed(args.seed + offset + 7919 * state["step"])
    generators = {"data": data, "noise": generator}
    progress = tqdm(
        total=args.steps,
        initial=state["step"],
        desc="training",
        unit="step",
        disable=not accelerator.is_local_main_process,
    )
    while state["step"] < args.steps:
        indices = torch.multinomial(windows, args.batch_size, True, generator=data)
        batch = {
            key: value.to(accelerator.device)
            for key, value in default_collate([dataset[i] for i in indices.tolist()]).items()
        }
        with accelerator.accumulate(model):
            count = len(batch["clips"])
            drawn = torch.multinomial(weights, count, True, generator=generator)
            dropped = torch.rand(count, generator=generator) < args.condition_dropout
            tasks = torch.where(dropped.to(batch["task_ids"].device), 0, batch["task_ids"])
            embeddings = None if prompt_table is None else prompt_table[tasks.cpu()]
            with torch.no_grad():
                clean = space.encode(batch["clips"])
            drawn_modes, prefixes = draw_modes(
                [modes[i] for i in drawn.tolist()], clean.shape[3], generator
            )
            loss = flow_matching_loss(
                model,
                clean.to(batch["clips"].dtype),
                batch["rays"],
                tasks,
                drawn_modes,
                generator,
                embeddings,
                action_weight=args.action_weight,
                given_action_frames=prefixes,
            )
            accelerator.backward(loss)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(state["step"], args)
            optimizer.step()
            optimizer.zero_grad()
        if accelerator.sync_gradients:
            state["step"] += 1
            state["losses"].append(accelerator.gather(loss.detach()).mean().item())
            progress.update(1)
            progress.set_postfix(loss=f"{state['losses'][-1]:.4f}")
            if state["step"] % args.checkpoint_every == 0 or state["step"] == args.steps:
                _checkpoint(
                    accelerator,
                    model,
                    optimizer,
                    generators,
                    state,
                    out,
                    policy_config,
                    args,
                )
    progress.close()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model)
        if args.lora_rank:
            final.transformer.fuse_lora()
            final.transformer.unload_lora()
        _save_model(final, out / "model", policy_config, vae, text)
        _plot(state["losses"], out / "loss.png")
    return state["losses"]


def _save_model(
    model: Denoiser,
    directory: Path,
    policy_config: PolicyConfig,
    vae: WanLatentSpace | None = None,
    text: TextEncoder | None = None,
) -> None:
    """A model directory that deploys as it is (see `loading`)."""
    create_model(
        model,
        policy_config,
        vae=None if vae is None else vae.vae,
        text_encoder=None if text is None else text.encoder,
        tokenizer=None if text is None else text.tokenizer,
    ).save(directory)


def _checkpoint(
    accelerator, model, optimizer, generators, state: dict, out: Path, policy_config, args
) -> None:
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    directory = out / f"checkpoint-{state['step']}"
    if args.lora_rank:
        save_lora(accelerator.unwrap_model(model), directory)
    else:
        _save_model(accelerator.unwrap_model(model), directory / "model", policy_config)
    save_optimizer(optimizer, directory)
    save_generators(generators, directory)
    (directory / "trainer_state.json").write_text(json.dumps(state))


def _plot(losses: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.plot(losses, linewidth=0.8, label="loss")
    if len(losses) >= 20:
        window = max(5, len(losses) // 20)
        smooth = torch.tensor(losses).unfold(0, window, 1).mean(1)
        axes.plot(range(window - 1, len(losses)), smooth, label=f"mean of {window}")
    axes.set_xlabel("step")
    axes.set_ylabel("flow-matching loss")
    axes.set_yscale("log")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=sorted(PRESETS), default="small")
    parser.add_argument("--episodes", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--frames", type=int, help="frames per clip (default: the preset's)")
    parser.add_argument("--size", type=int, help="clip height and width (default: the preset's)")
    parser.add_argument(
        "--frame-interval", type=float, default=0.2, help="seconds between a clip's frames"
    )
    parser.add_argument(
        "--num-tasks", type=int, help="task slots, 'no task' included (default: the preset's)"
    )
    parser.add_argument(
        "--backbone", type=Path, help="local diffusers Wan directory (transformer/, vae/)"
    )
    parser.add_argument("--lora-rank", type=int, default=0, help="0 = train every weight")
    parser.add_argument("--text-encoder", type=Path, help="local T5/UMT5 directory")
    parser.add_argument("--condition-dropout", type=float, default=0.1)
    parser.add_argument(
        "--mode-mix",
        nargs="+",
        metavar="MODE=WEIGHT",
        default=[f"{getattr(m, 'value', m)}={w}" for m, w in MODE_MIX.items()],
        help="how often each mode is drawn (default: the published-like mix above)",
    )
    parser.add_argument(
        "--balance-tasks", action="store_true", help="draw every task equally often"
    )
    parser.add_argument(
        "--hold-last-frame",
        action="store_true",
        help="also train on windows past an episode's end, holding its last step",
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-4, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    parser.add_argument(
        "--action-weight", type=float, default=1.0, help="loss weight of action frames"
    )
    parser.add_argument("--gradient-accumulation", type=int, default=1)
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], default="no")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even with a GPU")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        args.mode_mix = parse_mode_mix(args.mode_mix)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    losses = train(args)
    if losses:
        print(f"{len(losses)} steps; last loss {losses[-1]:.4f}; model in {args.out / 'model'}")


if __name__ == "__main__":
    main()
