"""Meta-World episodes: expert demonstrations as training episodes, and closed-loop policy runs.

A demonstration is recorded a frame every `frame_stride` environment steps (Meta-World steps at
80 Hz; stride 4 gives 20 frames per second): the fixed cameras' images and the action of that
moment, the commanded hand position (the target the expert has pulled the mocap to), the fixed
hand orientation and the commanded gripper openness. A policy's chunk is executed the same way
back: its targets, due `frame_interval` apart, are interpolated per environment step and each
becomes a position-delta + gripper action through the adapter's command path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.action_images import ActionImageConfig
from action_images_ros.core.cameras import CameraRig
from action_images_ros.core.overlays import draw_overlays
from action_images_ros.core.policy import Observation, Policy
from action_images_ros.core.rotations import quat_to_matrix
from action_images_ros.data.episode import EpisodeWriter
from action_images_ros.sim.metaworld_adapter import BASE_BODY, MetaWorldScene

# Openness is drawn as a level of the blue background (continuous), so the expert's gripper
# effort comes back exactly through the command path (effort = 1 - 2 * openness).
DRAWING = ActionImageConfig(gripper_encoding="continuous")
FRAMES = {"base": BASE_BODY, "end_effector": "hand"}


def frame_interval(scene: MetaWorldScene, frame_stride: int) -> float:
    """Seconds between recorded frames."""
    return scene.dt * frame_stride


def run_expert(scene: MetaWorldScene, frame_stride: int, on_frame: Callable[[], None]) -> bool:
    """Run the task's scripted expert from the scene's current reset, calling `on_frame()` at
    every `frame_stride`-th environment step (before that step's action), until success (and
    one frame more) or Meta-World's step limit; returns whether the task was solved."""
    expert, success = scene.expert(), False
    while True:
        if scene.steps % frame_stride == 0:
            on_frame()
            if success:
                return True
        if scene.done:
            return success
        success = scene.step(expert.get_action(scene.observation_vector)).success or success


def record_demonstration(
    scene: MetaWorldScene, seed: int, path: Path, frame_stride: int
) -> tuple[bool, int]:
    """Run the task's scripted expert from `seed` and write it as an episode at `path` (see
    run_expert). Returns (success, environment steps); a failed demonstration is discarded,
    not written."""
    scene.reset(seed)
    interval = frame_interval(scene, frame_stride)
    meta = {"task": scene.task, "source": "metaworld-expert", "seed": seed, "frames": FRAMES}
    writer = EpisodeWriter(
        path, scene.cameras, 1.0 / interval, scene.intrinsics(), scene.extrinsics(), DRAWING, meta
    )

    def append() -> None:
        writer.append(
            scene.steps * scene.dt,
            scene.render(),
            None,
            scene.commanded_position(),
            scene.hand_quaternion(),
            scene.gripper_command,
            joint_positions=scene.joint_positions(),
        )

    try:
        success = run_expert(scene, frame_stride, append)
    except BaseException:
        writer.discard()
        raise
    if not success:
        writer.discard()
        return False, scene.steps
    writer.meta["success"] = True
    writer.close()
    return True, scene.steps


def expert_success(scene: MetaWorldScene, seeds: Sequence[int]) -> float:
    """The scripted expert's success rate over `seeds` (no rendering)."""
    outcomes = []
    for seed in seeds:
        scene.reset(seed)
        expert, success = scene.expert(), False
        while not success and not scene.done:
            success = scene.step(expert.get_action(scene.observation_vector)).success
        outcomes.append(success)
    return float(np.mean(outcomes))


def chunk_actions(
    scene: MetaWorldScene, chunk: ActionChunk, start: np.ndarray
) -> Callable[[int], tuple[np.ndarray, float]]:
    """The target of environment step j (1-based) of executing `chunk`: its positions
    interpolated in time from `start` (the commanded position when the chunk was asked for),
    and the openness of the chunk step that is due next. Steps that were not decoded are
    skipped (their neighbours are interpolated across them)."""
    valid = np.asarray(chunk.valid, bool)
    times = np.concatenate([[0.0], chunk.times[valid]])
    positions = np.vstack([start[None], chunk.positions[valid]])
    openness = np.concatenate([[scene.gripper_command], chunk.gripper_openness[valid]])

    def target(j: int) -> tuple[np.ndarray, float]:
        t = j * scene.dt
        position = np.array([np.interp(t, times, positions[:, a]) for a in range(3)])
        due = min(int(np.searchsorted(times, t - 1e-9)), len(times) - 1)
        return position, float(openness[due])

    return target


@dataclass
class PolicyEpisode:
    """One closed-loop episode: the outcome, the environment steps it took, the inference
    time of each chunk, and (when recorded) the video frames with overlays."""

    success: bool
    steps: int
    inference_s: list[float] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)


def run_policy_episode(
    scene: MetaWorldScene,
    policy: Policy,
    seed: int,
    frame_stride: int,
    max_steps: int | None = None,
    record_video: bool = False,
) -> PolicyEpisode:
    """Run `policy` on the scene's task from `seed` until success or `max_steps` environment
    steps (default: Meta-World's limit): ask for a chunk, execute all of its steps, repeat.

    A policy that conditions on past frames (LeRobot's Diffusion Policy takes the current and
    the previous frame) says how many with `history_frames` (default 0) and is handed each of
    them through `observe(observation)` while a chunk executes: the observations of the last
    `history_frames` frame times before the chunk ends, one frame interval apart, as in its
    training data."""
    scene.reset(seed)
    limit = min(max_steps or scene.max_steps, scene.max_steps)
    history = int(getattr(policy, "history_frames", 0))
    episode = PolicyEpisode(False, 0)
    while scene.steps < limit and not episode.success:
        observation = scene.observation()
        began = time.perf_counter()
        chunk = policy.predict(observation)
        episode.inference_s.append(time.perf_counter() - began)
        horizon = max(1, int(round(chunk.times[-1] / scene.dt)))
        target = chunk_actions(scene, chunk, observation.ee_position)
        overlay = _overlay(observation, chunk) if record_video else None
        for j in range(1, horizon + 1):
            if record_video and (j - 1) % frame_stride == 0:
                now = overlay if j == 1 else _overlay_now(scene, observation, chunk)
                episode.frames.append(now)
            position, openness = target(j)
            if scene.step(scene.action_towards(position, openness)).success:
                episode.success = True
                break
            if scene.steps >= limit:
                break
            left = horizon - j
            if left > 0 and left % frame_stride == 0 and left // frame_stride <= history:
                policy.observe(scene.observation())
    episode.steps = scene.steps
    return episode


def evaluate_task(
    scene: MetaWorldScene,
    policy: Policy,
    seeds: Sequence[int],
    frame_stride: int,
    max_steps: int | None,
    video_episodes: int,
    out: Path,
) -> dict:
    """Closed-loop success of `policy` on the scene's task over `seeds` (each episode from
    `policy.reset(seed)`), next to the expert's on the same seeds; the first `video_episodes`
    episodes with their overlays as `out/videos/<task>.mp4`. The report's entry for the task
    (its video relative to `out`)."""
    from action_images_ros.data.video import write_video

    outcomes, inference, frames = [], [], []
    for index, seed in enumerate(seeds):
        policy.reset(seed)
        episode = run_policy_episode(
            scene, policy, seed, frame_stride, max_steps, record_video=index < video_episodes
        )
        outcomes.append(episode.success)
        inference += episode.inference_s
        frames += episode.frames
    video = None
    if frames:
        fps = 1.0 / frame_interval(scene, frame_stride)
        video = out / "videos" / f"{scene.task}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        write_video(video, np.stack(frames), fps)
    return {
        "success": float(np.mean(outcomes)),
        "expert_success": expert_success(scene, seeds),
        "successes": int(np.sum(outcomes)),
        "episodes": len(seeds),
        "chunks": len(inference),
        "inference_s_per_chunk": float(np.mean(inference)),
        "video": None if video is None else str(video.relative_to(out)),
    }


def _overlay(observation: Observation, chunk: ActionChunk) -> np.ndarray:
    """The views side by side with the chunk's action images and path drawn over them."""
    return _draw(observation.images, observation, chunk)


def _overlay_now(scene: MetaWorldScene, observation: Observation, chunk: ActionChunk) -> np.ndarray:
    return _draw(scene.render(), observation, chunk)


def _draw(images: np.ndarray, observation: Observation, chunk: ActionChunk) -> np.ndarray:
    height, width = images.shape[1:3]
    rig = CameraRig.from_arrays(
        observation.intrinsics, observation.extrinsics, width, height, dtype=torch.float32
    )
    positions = np.vstack([observation.ee_position[None], chunk.positions])
    quaternions = np.vstack([observation.ee_quaternion[None], chunk.quaternions])
    gripper = np.concatenate([[observation.gripper_openness], chunk.gripper_openness])
    drawn = draw_overlays(
        images, positions, quat_to_matrix(quaternions), gripper.clip(0, 1), rig, 1, DRAWING
    )
    return np.concatenate(list(drawn), axis=1)
