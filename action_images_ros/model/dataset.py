"""Training clips from episodes (see data.episode): random windows of F frames over V views.

Frames are resized to the model's size once, when the episodes are loaded; action images are
drawn again at that size from the recorded actions (exact, and the blobs keep their
size relative to the image). Each item also carries the cameras' Plücker rays and a task id.
Windows are built from the steps' timestamps (data.windows): frames `frame_interval` apart in
time, windows across a missing step skipped and counted (`skipped_windows`). Episodes must
agree on their base and end-effector frames.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from action_images_ros.core.action_images import encode
from action_images_ros.core.rotations import quat_to_matrix
from action_images_ros.data.episode import check_frames, find_episodes, read_episode
from action_images_ros.data.windows import timed_windows
from action_images_ros.model.denoisers import Denoiser
from action_images_ros.model.rays import plucker_rays
from action_images_ros.model.views import resize_views


class EpisodeClips(Dataset):
    """Clips (V, 2, F, H, W, 3) in [0, 1] with rays (V, H, W, 6) and task ids (0 = no task)."""

    def __init__(self, episodes: Path, model: Denoiser, frame_interval: float) -> None:
        """Every episode below `episodes` (any depth, e.g. one folder per task), in windows of
        the model's frames `frame_interval` seconds apart."""
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
        self.items: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        self.windows: list[tuple[int, torch.Tensor]] = []  # (episode item, step indices)
        self.skipped_windows = 0
        self.window_tasks: list[int] = []  # task id of each window
        for path in paths:
            episode = read_episode(path)
            if len(episode.cameras) != c.views:
                raise ValueError(f"{path} has {len(episode.cameras)} views, the model {c.views}")
            windows = timed_windows(
                episode.timestamps, self.frames, frame_interval, fps=episode.fps
            )
            self.skipped_windows += windows.skipped
            rgb, rig = resize_views(
                episode.rgb, episode.intrinsics, episode.extrinsics, c.width, c.height
            )
            actions = encode(
                torch.tensor(episode.positions), torch.tensor(quat_to_matrix(episode.quaternions)),
                torch.tensor(episode.gripper.clip(0, 1)), rig, episode.action_image_config,
            ).images.float()  # fmt: skip
            clip = torch.stack([torch.from_numpy(rgb).float() / 255, actions], dim=2)  # T,V,2,..
            task = self.tasks.index(episode.meta.get("task", "")) + 1
            index = len(self.items)
            self.items.append((clip, plucker_rays(rig, *model.latent_shape[1:3]), task))
            self.windows += [(index, torch.from_numpy(steps)) for steps in windows.steps]
            self.window_tasks += [task] * len(windows.steps)
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
        clip, rays, task = self.items[item]
        frames = clip[steps]  # (F, V, 2, H, W, 3)
        return {
            "clips": frames.permute(1, 2, 0, 3, 4, 5).contiguous(),
            "rays": rays,
            "task_ids": torch.tensor(task),
        }
