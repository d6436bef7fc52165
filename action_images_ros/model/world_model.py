"""A trained model measured as a world model on held-out episodes (bench/bench_model.py).

Over non-overlapping windows of the model's frames (its frame interval apart) in every episode:
- action-conditioned video generation: the current RGB and every action image given (drawn
  from the recorded actions with the model's drawing), the future RGB generated; PSNR and SSIM
  of the generated frames against the recorded ones at the model's size;
- action labeling: every RGB frame given, the action images generated and decoded; position
  (mm), rotation (deg) and gripper errors of the decoded steps against the recorded actions;
- joint generation (the policy mode): the current RGB and action given; the same errors of the
  decoded future steps.

SSIM is Wang et al. (2004) with an 11-tap Gaussian window of sigma 1.5 and the usual constants
(K1 0.01, K2 0.03) over [0, 1] pixels, per colour channel, averaged (scipy's gaussian_filter,
truncated at 3.5 sigma, as scikit-image's `structural_similarity(gaussian_weights=True)`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from scipy.spatial.transform import Rotation

from action_images_ros.core.action_images import encode
from action_images_ros.core.policy import Observation
from action_images_ros.core.rotations import quat_to_matrix
from action_images_ros.data.episode import find_episodes, read_episode
from action_images_ros.data.windows import disjoint, timed_windows
from action_images_ros.model.labeling import ModelLabeler
from action_images_ros.model.loading import ModelBundle
from action_images_ros.model.modes import Mode
from action_images_ros.model.policy import VideoActionPolicy
from action_images_ros.model.views import resize_views


def psnr(generated: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of images in [0, 1]."""
    mse = float(np.mean((generated.astype(np.float64) - truth) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def ssim(generated: np.ndarray, truth: np.ndarray, sigma: float = 1.5) -> float:
    """Structural similarity of two (H, W, C) images in [0, 1] (see the module docstring)."""
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for channel in range(generated.shape[-1]):
        x, y = generated[..., channel].astype(np.float64), truth[..., channel].astype(np.float64)
        blur = lambda image: gaussian_filter(image, sigma, truncate=3.5)  # noqa: E731
        mx, my = blur(x), blur(y)
        vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        values.append(index.mean())
    return float(np.mean(values))


class _ActionErrors:
    def __init__(self) -> None:
        self.position, self.rotation, self.gripper, self.decoded, self.total = [], [], [], 0, 0

    def add(self, positions, rotations, gripper, valid, truth_positions, truth_quats, truth_grip):
        self.total, self.decoded = self.total + len(valid), self.decoded + int(valid.sum())
        if not valid.any():
            return
        turn = Rotation.from_matrix(rotations[valid]) * Rotation.from_quat(truth_quats[valid]).inv()
        self.position += list(np.linalg.norm(positions[valid] - truth_positions[valid], axis=1))
        self.rotation += list(np.degrees(turn.magnitude()))
        self.gripper += list((gripper[valid] > 0.5) == (truth_grip[valid] > 0.5))

    def summary(self) -> dict[str, float]:
        mean = lambda values, scale=1.0: scale * float(np.mean(values)) if values else float("nan")  # noqa: E731
        return {
            "steps": self.total,
            "decoded_fraction": self.decoded / max(self.total, 1),
            "position_error_mm": mean(self.position, 1e3),
            "rotation_error_deg": mean(self.rotation),
            "gripper_accuracy": mean(self.gripper),
        }


def world_model_figures(
    bundle: ModelBundle, episodes: Path, num_inference_steps: int | None = None, seed: int = 0
) -> dict[str, object]:
    """The figures of the module docstring over every episode below `episodes`."""
    config, pipeline = bundle.config, bundle.pipeline
    policy = VideoActionPolicy(bundle, num_inference_steps, seed=seed)
    labeler = ModelLabeler(bundle, num_inference_steps, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    paths = find_episodes(episodes)
    if not paths:
        raise FileNotFoundError(f"no episodes (directories with meta.json) in {episodes}")
    psnrs, ssims, labeling, joint, windows = [], [], _ActionErrors(), _ActionErrors(), 0
    for path in paths:
        episode = read_episode(path)
        task = episode.meta.get("task", "")
        policy.set_task(task if task in policy.tasks else "")
        windows_of_episode = timed_windows(
            episode.timestamps, config.frames, config.frame_interval, fps=episode.fps
        )
        small, rig = resize_views(
            episode.rgb,
            episode.intrinsics,
            episode.extrinsics,
            config.width,
            config.height,
            config.center_crop,
        )
        drawn = encode(
            torch.tensor(episode.positions),
            torch.tensor(quat_to_matrix(episode.quaternions)),
            torch.tensor(episode.gripper.clip(0, 1)),
            rig,
            config.action_images,
        ).images.float()
        rays = pipeline.camera_rays(rig)
        for steps in disjoint(windows_of_episode.steps):
            windows += 1
            clips = torch.stack([torch.from_numpy(small[steps]).float() / 255, drawn[steps]], 2)
            clips = clips.permute(1, 2, 0, 3, 4, 5)[None]  # (1, V, 2, F, H, W, 3)
            out = pipeline(
                clips=clips,
                rays=rays,
                mode=Mode.ACTION_CONDITIONED_VIDEO,
                task_ids=torch.tensor([policy.task_id]),
                num_inference_steps=policy.steps,
                generator=generator,
            ).clips
            generated, truth = out[0, :, 0, 1:].numpy(), clips[0, :, 0, 1:].numpy()
            for view_frames, truth_frames in zip(generated, truth, strict=True):
                for image, reference in zip(view_frames, truth_frames, strict=True):
                    psnrs.append(psnr(image, reference))
                    ssims.append(ssim(image, reference))
            window = labeler.label(episode.rgb[steps], episode.intrinsics, episode.extrinsics)
            labeling.add(
                window.positions,
                window.rotations,
                window.gripper,
                window.valid,
                episode.positions[steps],
                episode.quaternions[steps],
                episode.gripper[steps],
            )
            now = steps[0]
            chunk = policy.predict(
                Observation(
                    stamp=0.0,
                    images=episode.rgb[now],
                    intrinsics=episode.intrinsics,
                    extrinsics=episode.extrinsics,
                    joint_positions=np.zeros(7),
                    ee_position=episode.positions[now],
                    ee_quaternion=episode.quaternions[now],
                    gripper_openness=float(episode.gripper[now]),
                )
            )
            joint.add(
                chunk.positions,
                quat_to_matrix(chunk.quaternions),
                chunk.gripper_openness,
                chunk.valid,
                episode.positions[steps[1:]],
                episode.quaternions[steps[1:]],
                episode.gripper[steps[1:]],
            )
    return {
        "episodes": len(paths),
        "windows": windows,
        "inference_steps": policy.steps,
        "video_psnr_db": float(np.mean(psnrs)),
        "video_ssim": float(np.mean(ssims)),
        "labeling": labeling.summary(),
        "joint_generation": joint.summary(),
    }
