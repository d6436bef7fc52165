"""Training episodes on disk: multi-view RGB video, 7-DoF actions, cameras (format_version 2).

One directory per episode, following the LeRobot layout where it fits (videos per camera,
tabular data beside them, metadata as JSON):

    <episode>/
      meta.json                 format_version, fps, cameras (in order), width, height, steps,
                                task, source, success, action_image (the drawing settings),
                                action_images_stored (whether action_videos/ is written)
      cameras.json              per camera: width, height, K (3x3), T_base_camera (4x4: the
                                optical frame, z forward, x right, y down, in the robot base)
      videos/<camera>.mp4       RGB, H.264
      action_videos/<camera>.mkv  only when stored: action images, FFV1 (lossless)
      actions.safetensors       timestamps (T,), positions (T, 3), quaternions (T, 4) x y z w,
                                gripper (T,) in [0, 1], confidence (T,), valid (T,) and, when
                                known, joint_positions (T, J)

Action images are a pure function of the actions, the cameras and the drawing settings, so by
default they are not stored: `read_episode` draws them again (`draw_action_images`), exactly
as the writer would have drawn them. An episode written with `store_action_images` (or by
format_version 1, which always stored them) is read from its action videos.

meta.json also names the frames the actions and cameras are in (`frames`: base and
end_effector); episodes mixed in one dataset must agree on them (`check_frames`).

Episodes are written to a temporary directory beside the target and renamed into place, so an
interrupted write never leaves a half-written episode. Every file gets the mode the process's
umask gives a new file (0644 under the usual 022), whatever the writing library chose.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from action_images_ros.core.action_images import ActionImageConfig
from action_images_ros.data.video import VideoWriter, read_video

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: action videos always stored
_GENERATED_META = (
    "action_image",
    "format_version",
    "fps",
    "cameras",
    "width",
    "height",
    "steps",
    "action_images_stored",
)


# Episodes are written while labeling, where encoding is most of a step's cost: the fastest
# preset, and one encoder thread per video (x264's frame threads, one set per camera, contend
# for the cores with the labeling itself: measured 2x slower on 2 busy cores at 128x128).
_RGB_ENCODER = {"preset": "ultrafast", "threads": "1"}


class EpisodeError(ValueError):
    """An episode that cannot be written or read (missing files, mismatched shapes)."""


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else by setting it back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(directory: str | Path) -> None:
    """Give every file below `directory` the mode a new file gets (0666 & ~umask), and every
    folder 0777 & ~umask: some writers (safetensors) create files 0600."""
    mask = _umask()
    os.chmod(directory, 0o777 & ~mask)
    for root, folders, files in os.walk(directory):
        for name in folders:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


def check_frames(metas: dict[str, dict]) -> dict[str, str] | None:
    """The base and end-effector frames shared by episodes (path -> meta); raises
    EpisodeError naming two episodes whose frames differ. Episodes that do not record their
    frames (older ones) are taken to agree; None when none records them."""
    known = {path: meta["frames"] for path, meta in metas.items() if meta.get("frames")}
    if not known:
        return None
    first_path, first = next(iter(known.items()))
    for path, frames in known.items():
        if frames != first:
            raise EpisodeError(
                f"episodes are in different frames: {first_path} has {first}, {path} has "
                f"{frames}; label them in one base and end-effector frame"
            )
    return dict(first)


@dataclass
class Episode:
    """One episode in memory. Arrays are per step (T) and per camera, in `cameras` order."""

    cameras: list[str]
    fps: float
    intrinsics: np.ndarray  # (V, 3, 3)
    extrinsics: np.ndarray  # (V, 4, 4)
    rgb: np.ndarray  # (T, V, H, W, 3) uint8
    action_images: np.ndarray  # (T, V, H, W, 3) uint8
    timestamps: np.ndarray  # (T,)
    positions: np.ndarray  # (T, 3)
    quaternions: np.ndarray  # (T, 4)
    gripper: np.ndarray  # (T,)
    confidence: np.ndarray | None = None  # (T,), 1 for measured actions
    valid: np.ndarray | None = None  # (T,)
    joint_positions: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    action_image_config: ActionImageConfig = field(default_factory=ActionImageConfig.paper)

    def __post_init__(self) -> None:
        steps, views = len(self.timestamps), len(self.cameras)
        expected = {
            "rgb": (steps, views),
            "action_images": (steps, views),
            "positions": (steps, 3),
            "quaternions": (steps, 4),
            "gripper": (steps,),
            "intrinsics": (views, 3, 3),
            "extrinsics": (views, 4, 4),
        }
        for name, shape in expected.items():
            if np.shape(getattr(self, name))[: len(shape)] != shape:
                raise EpisodeError(
                    f"{name} has shape {np.shape(getattr(self, name))}, expected {shape}..."
                )
        if self.rgb.shape != self.action_images.shape or self.rgb.dtype != np.uint8:
            raise EpisodeError("rgb and action_images must be uint8 arrays of one shape")
        if self.confidence is None:
            self.confidence = np.ones(steps)
        if self.valid is None:
            self.valid = np.ones(steps, dtype=bool)

    @property
    def steps(self) -> int:
        return len(self.timestamps)


def draw_action_images(
    positions: np.ndarray,
    quaternions: np.ndarray,
    gripper: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    width: int,
    height: int,
    config: ActionImageConfig,
) -> np.ndarray:
    """The action images (T, V, H, W, 3) uint8 of T stored actions, as an episode holds them:
    drawn on float32 cameras from the quaternions, the gripper clipped to [0, 1]. A step whose
    action is not finite (or has a zero quaternion) has nothing to draw: its images are black."""
    import torch

    from action_images_ros.core.action_images import encode
    from action_images_ros.core.cameras import CameraRig
    from action_images_ros.core.rotations import quat_to_matrix

    positions = np.asarray(positions, np.float64).reshape(-1, 3)
    quaternions = np.asarray(quaternions, np.float64).reshape(-1, 4)
    gripper = np.asarray(gripper, np.float64).reshape(-1)
    drawable = (
        np.isfinite(positions).all(1)
        & np.isfinite(quaternions).all(1)
        & np.isfinite(gripper)
        & (np.linalg.norm(np.nan_to_num(quaternions), axis=1) > 0)
    )
    images = np.zeros((len(positions), len(intrinsics), height, width, 3), np.uint8)
    if not drawable.any():
        return images
    rig = CameraRig.from_arrays(intrinsics, extrinsics, width, height, dtype=torch.float32)
    drawn = encode(
        torch.from_numpy(positions[drawable]),
        torch.from_numpy(quat_to_matrix(quaternions[drawable])),
        torch.from_numpy(gripper[drawable].clip(0, 1)),
        rig,
        config,
    ).to_uint8()
    images[drawable] = drawn.numpy()
    return images


class EpisodeWriter:
    """Streams an episode to disk step by step (bounded memory), atomically on `close()`.

    With `store_action_images`, the action images given to `append` are also written (as
    lossless video); without, they are drawn again from the actions on reading. Use as a
    context manager; an exception discards the partial episode.
    """

    def __init__(
        self,
        path: str | Path,
        cameras: list[str],
        fps: float,
        intrinsics: np.ndarray,
        extrinsics: np.ndarray,
        action_image_config: ActionImageConfig | None = None,
        meta: dict | None = None,
        store_action_images: bool = False,
    ) -> None:
        self.path = Path(path)
        self.store_action_images = store_action_images
        if self.path.exists():
            raise EpisodeError(f"episode {self.path} already exists")
        if np.shape(intrinsics) != (len(cameras), 3, 3) or np.shape(extrinsics) != (
            len(cameras),
            4,
            4,
        ):
            raise EpisodeError("need (V, 3, 3) intrinsics and (V, 4, 4) extrinsics for V cameras")
        self.cameras, self.fps = list(cameras), fps
        self.intrinsics, self.extrinsics = np.asarray(intrinsics), np.asarray(extrinsics)
        self.config = action_image_config or ActionImageConfig.paper()
        self.meta = dict(meta or {})
        self._staging = self.path.with_name(f".{self.path.name}.partial")
        shutil.rmtree(self._staging, ignore_errors=True)
        (self._staging / "videos").mkdir(parents=True)
        if store_action_images:
            (self._staging / "action_videos").mkdir()
        self._videos: list = []
        self._columns: dict[str, list] = {}
        self._size: tuple[int, int] | None = None

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

    def _open_videos(self) -> None:
        for name in self.cameras:
            rgb = VideoWriter(
                self._staging / "videos" / f"{name}.mp4",
                "libx264",
                self.fps,
                "yuv444p",
                _RGB_ENCODER,
            )
            action = None
            if self.store_action_images:
                action = VideoWriter(
                    self._staging / "action_videos" / f"{name}.mkv", "ffv1", self.fps, "bgr0"
                )
            self._videos.append((rgb, action))

    def append(
        self,
        timestamp: float,
        rgb: np.ndarray,
        action_images: np.ndarray | None,
        position: np.ndarray,
        orientation: np.ndarray,
        gripper: float,
        confidence: float = 1.0,
        valid: bool = True,
        joint_positions: np.ndarray | None = None,
    ) -> None:
        """One step: RGB (V, H, W, 3) uint8 and the action, its orientation a quaternion (4,)
        x y z w or a rotation matrix (3, 3) (turned into a quaternion, in one batch, on close).
        `action_images` (V, H, W, 3) uint8 are needed only with `store_action_images` (else
        ignored: they are drawn again on reading)."""
        if self.store_action_images and action_images is None:
            raise EpisodeError("store_action_images needs the action images of every step")
        shapes_agree = not self.store_action_images or rgb.shape == action_images.shape
        if not shapes_agree or rgb.ndim != 4 or rgb.shape[0] != len(self.cameras):
            got = f"{rgb.shape} and {None if action_images is None else action_images.shape}"
            raise EpisodeError(
                f"need (V={len(self.cameras)}, H, W, 3) rgb and action images of one shape, "
                f"got {got}"
            )
        orientation = np.asarray(orientation, dtype=np.float64)
        if orientation.shape not in ((4,), (3, 3)):
            raise EpisodeError(
                f"need a quaternion (4,) or a rotation (3, 3), got shape {orientation.shape}"
            )
        if self._size is None:
            self._size = rgb.shape[1:3]
            self._open_videos()
        elif rgb.shape[1:3] != self._size:
            raise EpisodeError(f"frame size changed from {self._size} to {rgb.shape[1:3]}")
        for view, (rgb_video, action_video) in enumerate(self._videos):
            rgb_video.write(rgb[view])
            if action_video is not None:
                action_video.write(action_images[view])
        row = {
            "timestamps": timestamp,
            "positions": position,
            "orientations": orientation,
            "gripper": gripper,
            "confidence": confidence,
            "valid": valid,
        }
        if joint_positions is not None:
            row["joint_positions"] = joint_positions
        for key, value in row.items():
            self._columns.setdefault(key, []).append(np.asarray(value, dtype=np.float64))

    @property
    def steps(self) -> int:
        return len(self._columns.get("timestamps", []))

    def close(self) -> Path:
        """Finish the files and move the episode into place."""
        if self.steps == 0:
            self.discard()
            raise EpisodeError(f"episode {self.path} has no steps")
        for videos in self._videos:
            for video in videos:
                if video is not None:
                    video.close()
        height, width = self._size
        config = self.config
        meta = {
            **self.meta,
            "format_version": FORMAT_VERSION,
            "fps": self.fps,
            "cameras": self.cameras,
            "width": int(width),
            "height": int(height),
            "steps": self.steps,
            "action_images_stored": self.store_action_images,
            "action_image": {
                "offset": config.offset,
                "sigma_fraction": config.sigma_fraction,
                "background": config.background,
                "gripper_encoding": config.gripper_encoding,
            },
        }
        (self._staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        cameras = {
            name: {
                "width": int(width),
                "height": int(height),
                "K": k.tolist(),
                "T_base_camera": t.tolist(),
            }
            for name, k, t in zip(self.cameras, self.intrinsics, self.extrinsics, strict=True)
        }
        (self._staging / "cameras.json").write_text(json.dumps(cameras, indent=2) + "\n")
        orientations = self._columns.pop("orientations")
        tensors = {key: np.stack(values) for key, values in self._columns.items()}
        tensors["quaternions"] = _as_quaternions(orientations)
        save_file(tensors, self._staging / "actions.safetensors")
        apply_umask(self._staging)
        self._staging.rename(self.path)
        return self.path

    def discard(self) -> None:
        for videos in self._videos:
            for video in videos:
                if video is not None:
                    video.close()
        self._videos = []
        shutil.rmtree(self._staging, ignore_errors=True)


def _as_quaternions(orientations: list[np.ndarray]) -> np.ndarray:
    """(T, 4) quaternions x y z w from per-step quaternions or rotation matrices, converting
    the matrices in one call (a per-step conversion costs more than the rest of a step)."""
    from action_images_ros.core.rotations import matrix_to_quat

    quaternions = np.zeros((len(orientations), 4))
    matrices = [i for i, o in enumerate(orientations) if o.shape == (3, 3)]
    given = [i for i, o in enumerate(orientations) if o.shape == (4,)]
    if matrices:
        quaternions[matrices] = matrix_to_quat(np.stack([orientations[i] for i in matrices]))
    if given:
        quaternions[given] = np.stack([orientations[i] for i in given])
    return quaternions


def write_episode(path: str | Path, episode: Episode, store_action_images: bool = False) -> Path:
    """Write an in-memory `episode` to the directory `path` (which must not exist yet); its
    action images are written only with `store_action_images` (else drawn again on reading)."""
    with EpisodeWriter(
        path,
        episode.cameras,
        episode.fps,
        episode.intrinsics,
        episode.extrinsics,
        episode.action_image_config,
        episode.meta,
        store_action_images,
    ) as writer:
        for t in range(episode.steps):
            joints = None if episode.joint_positions is None else episode.joint_positions[t]
            writer.append(
                episode.timestamps[t],
                episode.rgb[t],
                episode.action_images[t],
                episode.positions[t],
                episode.quaternions[t],
                episode.gripper[t],
                episode.confidence[t],
                bool(episode.valid[t]),
                joints,
            )
    return Path(path)


def find_episodes(root: str | Path) -> list[Path]:
    """Every episode directory below `root`, at any depth (e.g. one folder per task), sorted;
    symbolic links to folders are followed (a dataset assembled from links loses nothing),
    each folder counted once."""
    found, seen = [], set()
    for directory, subdirectories, files in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:  # a second link to the same folder, or a link loop
            subdirectories.clear()
            continue
        seen.add(real)
        if "meta.json" in files:
            found.append(Path(directory))
    return sorted(found)


def read_episode(path: str | Path, load_video: bool = True) -> Episode:
    """Read an episode directory (raises EpisodeError naming what is missing or wrong)."""
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
        cameras = json.loads((path / "cameras.json").read_text())
        tensors = load_file(path / "actions.safetensors")
    except (OSError, json.JSONDecodeError) as error:
        raise EpisodeError(f"{path} is not a readable episode: {error}") from error
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise EpisodeError(f"{path}: format_version {meta.get('format_version')} is not supported")
    names = meta["cameras"]
    steps, height, width = meta["steps"], meta["height"], meta["width"]
    config = ActionImageConfig(**meta["action_image"])
    intrinsics = np.array([cameras[n]["K"] for n in names])
    extrinsics = np.array([cameras[n]["T_base_camera"] for n in names])
    stored = meta.get("action_images_stored", True)  # format_version 1 always stored them
    if load_video:
        rgb = np.stack([read_video(path / "videos" / f"{n}.mp4") for n in names], 1)
        if stored:
            actions = np.stack([read_video(path / "action_videos" / f"{n}.mkv") for n in names], 1)
        else:
            actions = draw_action_images(
                tensors["positions"],
                tensors["quaternions"],
                tensors["gripper"],
                intrinsics,
                extrinsics,
                width,
                height,
                config,
            )
    else:
        rgb = actions = np.zeros((steps, len(names), height, width, 3), np.uint8)
    if rgb.shape[0] != steps or actions.shape[0] != steps:
        raise EpisodeError(f"{path}: videos hold {rgb.shape[0]} frames, meta.json says {steps}")
    return Episode(
        cameras=names,
        fps=meta["fps"],
        intrinsics=intrinsics,
        extrinsics=extrinsics,
        rgb=rgb,
        action_images=actions,
        timestamps=tensors["timestamps"],
        positions=tensors["positions"],
        quaternions=tensors["quaternions"],
        gripper=tensors["gripper"],
        confidence=tensors["confidence"],
        valid=tensors["valid"] > 0.5,
        joint_positions=tensors.get("joint_positions"),
        meta={k: v for k, v in meta.items() if k not in _GENERATED_META},
        action_image_config=config,
    )
