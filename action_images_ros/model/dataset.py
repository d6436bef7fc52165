"""Training clips from episodes (see data.episode): random windows of F frames over V views.

Frames are resized to the model's size once, when the episodes are loaded, and kept as bytes;
action images are drawn at that size from the recorded actions when a window is read (exact,
the blobs keep their size relative to the image, and memory holds only the RGB frames). Each
item also carries the cameras' Plücker rays and a task id.
Windows are built from the steps' timestamps (data.windows): frames `frame_interval` apart in
time, windows across a missing step skipped and counted (`skipped_windows`). Episodes must
agree on their base and end-effector frames.

With `hold_last_frame`, an episode's last step is held for as long as a window spans (the
expert ends at rest), so that the states near a task's end are "now" in windows too: a model
with a long horizon would otherwise never start a window in an episode's last seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from action_images_ros.core.action_images import ActionImageConfig, encode
from action_images_ros.core.cameras import CameraRig
from action_images_ros.core.rotations import quat_to_matrix
from action_images_ros.data.episode import check_frames, find_episodes, read_episode
from action_images_ros.data.windows import timed_windows
from action_images_ros.model.denoisers import Denoiser
from action_images_ros.model.rays import plucker_rays
from action_images_ros.model.views import resize_views


class EpisodeClips(Dataset):
    """Clips (V, 2, F, H, W, 3) in [0, 1] with rays (V, H, W, 6) and task ids (0 = no task)."""

    def __init__(
        self,
        episodes: Path,
        model: Denoiser,
        frame_interval: float,
        hold_last_frame: bool = False,
    ) -> None:
        """Every episode below `episodes` (any depth, e.g. one folder per task), in windows of
        the model's frames `frame_interval` seconds apart (with `hold_last_frame`, also the
        windows that run past an episode's end, which hold its last step)."""
        c = model.config
        self.frames = c.frames
        paths = find_episodes(episodes)
        if not paths:
            raise FileNotFoundError(f"no episodes (directories with meta.json) in {episodes}")
        metas = {str(p): read_episode(p, load_video=False).meta for p in paths}
        check_frames(metas)
        self.tasks = sorted({meta.get("task", "") for meta in metas.values()})
        if len(self.tasks) + 1 > c.num_tasks:
            raise ValueError(f"{len(self.tasks)} tasks but the model embeds {c.num_tasks - 1}")
        self.items: list[_EpisodeItem] = []
        self.windows: list[tuple[int, torch.Tensor]] = []  # (episode item, step indices)
        self.skipped_windows = 0
        self.window_tasks: list[int] = []  # task id of each window
        for path in paths:
            episode = read_episode(path)
            if len(episode.cameras) != c.views:
                raise ValueError(f"{path} has {len(episode.cameras)} views, the model {c.views}")
            times = np.asarray(episode.timestamps, dtype=np.float64)
            if hold_last_frame and len(times):
                held = int(np.ceil((self.frames - 1) * frame_interval * episode.fps)) + 1
                times = np.concatenate([times, times[-1] + np.arange(1, held + 1) / episode.fps])
            windows = timed_windows(times, self.frames, frame_interval, fps=episode.fps)
            self.skipped_windows += windows.skipped
            steps = windows.steps[windows.steps[:, 0] < len(episode.timestamps)]
            steps = np.minimum(steps, len(episode.timestamps) - 1)  # held steps: the last one
            rgb, rig = resize_views(
                episode.rgb, episode.intrinsics, episode.extrinsics, c.width, c.height
            )
            task = self.tasks.index(episode.meta.get("task", "")) + 1
            index = len(self.items)
            self.items.append(
                _EpisodeItem(
                    torch.from_numpy(np.ascontiguousarray(rgb)),
                    torch.tensor(episode.positions),
                    torch.tensor(quat_to_matrix(episode.quaternions)),
                    torch.tensor(episode.gripper.clip(0, 1)),
                    rig,
                    episode.action_image_config,
                    plucker_rays(rig, *model.latent_shape[1:3]),
                    task,
                )
            )
            self.windows += [(index, torch.from_numpy(window)) for window in steps]
            self.window_tasks += [task] * len(steps)
        if not self.windows:
            raise ValueError(
                f"no episode in {episodes} holds {self.frames} frames {frame_interval} s apart "
                f"({self.skipped_windows} windows skipped for gaps in time)"
            )

    def task_balancing_weights(self) -> torch.Tensor:
        """A sampling weight per window such that every task is drawn equally often, however
        many windows its episodes hold."""
        tasks = torch.tensor(self.window_tasks)
        counts = torch.bincount(tasks)
        return 1.0 / counts[tasks].double()

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item, steps = self.windows[index]
        episode = self.items[item]
        actions = encode(
            episode.positions[steps],
            episode.rotations[steps],
            episode.gripper[steps],
            episode.rig,
            episode.drawing,
        ).images.float()
        frames = torch.stack([episode.rgb[steps].float() / 255, actions], dim=2)  # F,V,2,H,W,3
        return {
            "clips": frames.permute(1, 2, 0, 3, 4, 5).contiguous(),
            "rays": episode.rays,
            "task_ids": torch.tensor(episode.task),
        }


@dataclass(frozen=True)
class _EpisodeItem:
    """One loaded episode: RGB bytes (T, V, H, W, 3) at the model's size, the actions to draw,
    the resized camera rig and drawing, the rays and the task id."""

    rgb: torch.Tensor
    positions: torch.Tensor
    rotations: torch.Tensor
    gripper: torch.Tensor
    rig: CameraRig
    drawing: ActionImageConfig
    rays: torch.Tensor
    task: int
