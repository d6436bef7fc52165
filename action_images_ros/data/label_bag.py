"""Label recorded demonstrations: rosbag2 bags in, training episodes and overlay videos out.

    python -m action_images_ros.data.label_bag demos/*/ --out episodes/ \
        --camera front=/front/image_raw --camera left=/left/image_raw --fps 10 --overlay

Per bag: camera frames synchronized within `--slop`, camera extrinsics and the end-effector pose
from the bag's TF (chained and interpolated), the gripper from joint states; the action image of
each step drawn with the codec; one episode written (see data.episode) and, with `--overlay`,
an mp4 of all views with the action path drawn in. Nothing is dropped silently: the summary
lists, per bag, the sets labeled and every skip reason with its count.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from action_images_ros.core.action_images import ActionImageConfig, encode
from action_images_ros.core.cameras import CameraRig
from action_images_ros.core.overlays import draw_overlays
from action_images_ros.core.rotations import matrix_to_quat
from action_images_ros.data.bag_reader import BagError, BagFrames, BagTopics, FrameSet
from action_images_ros.data.bag_recorder import BagRecorder
from action_images_ros.data.episode import EpisodeWriter
from action_images_ros.data.video import write_video
from action_images_ros.model.labeling import ModelLabeler
from action_images_ros.model.loading import load_model_directory


@dataclass
class LabelResult:
    bag: str
    episode: str | None
    steps: int
    skipped: dict[str, int]
    error: str | None = None


def _robot_state_actions(frame_set: FrameSet) -> tuple:
    """Actions measured on the robot: pose, gripper, confidence 1, valid."""
    pose = frame_set.ee_pose
    return pose[:3, 3], pose[:3, :3], frame_set.gripper_openness, 1.0, True


def label_bag(
    bag: Path,
    out: Path,
    topics: BagTopics,
    fps: float = 10.0,
    slop: float = 0.02,
    overlay: bool = False,
    config: ActionImageConfig | None = None,
    meta: dict | None = None,
    annotated_bag: Path | None = None,
    labeler: ModelLabeler | None = None,
) -> LabelResult:
    """Turn one bag into one episode directory `out` (and `out`.mp4 with `overlay`).

    Actions come from the robot's state (TF or joint states, see BagTopics.ee_source) or, with
    `labeler`, from the model's action-labeling mode on windows of frames (for videos without
    robot state; decoded with a confidence per step, undecodable steps flagged invalid). With
    `annotated_bag`, also write a copy of the bag with `<camera>/action_image` topics (rgb8
    Image, stamped like the camera set), for `ros2 bag play` + RViz.
    """
    config = config or ActionImageConfig.paper()
    frames = BagFrames(bag, topics, slop)
    cameras = list(topics.cameras)
    writer: EpisodeWriter | None = None
    annotated = BagRecorder(annotated_bag) if annotated_bag is not None else None
    overlay_frames: list[np.ndarray] = []
    window: list[FrameSet] = []
    next_time = -np.inf

    def write(frame_set: FrameSet, drawn: np.ndarray, actions: tuple) -> None:
        nonlocal writer
        images = np.stack([frame_set.images[c] for c in cameras])
        intrinsics = np.stack([frame_set.intrinsics[c] for c in cameras])
        extrinsics = np.stack([frame_set.extrinsics[c] for c in cameras])
        if writer is None:
            source = "model" if labeler else topics.ee_source
            writer = EpisodeWriter(
                out, cameras, fps, intrinsics, extrinsics, config,
                {**(meta or {}), "source": f"bag:{Path(bag).name}", "actions_from": source},
            )  # fmt: skip
        position, rotation, gripper, confidence, valid = actions
        writer.append(
            frame_set.stamp, images, drawn, position, matrix_to_quat(rotation), gripper,
            confidence, valid, frame_set.joint_positions,
        )  # fmt: skip
        if annotated is not None:
            for camera, image in zip(cameras, drawn, strict=True):
                annotated.write_image(
                    f"/{camera}/action_image", frame_set.stamp, image, frame_set.frame_ids[camera]
                )
        if overlay:
            rig = CameraRig.from_arrays(intrinsics, extrinsics, images.shape[2], images.shape[1])
            overlay_frames.append(np.hstack(draw_overlays(
                images, position[None], rotation[None], np.array([gripper]), rig, 0, config
            )))  # fmt: skip

    try:
        for frame_set in frames:
            if frame_set.stamp < next_time - 1e-6:
                frames.report.skip(f"thinned to {fps} Hz")
                continue
            next_time = frame_set.stamp + 1.0 / fps
            if labeler is None:
                actions = _robot_state_actions(frame_set)
                write(frame_set, _draw(frame_set, cameras, actions, config), actions)
                continue
            window.append(frame_set)
            if len(window) == labeler.model.config.frames:
                _label_window(window, cameras, labeler, write)
                window = []
        for _ in window:
            frames.report.skip("the last frames do not fill a model window")
        if writer is None:
            if annotated is not None:
                annotated.close(keep=False)
            return LabelResult(str(bag), None, 0, dict(frames.report.skipped), "no frame set")
        writer.close()
        if annotated is not None:
            annotated.copy_from(bag)
            annotated.close()
    except BaseException:
        if writer is not None:
            writer.discard()
        if annotated is not None:
            annotated.close(keep=False)
        raise
    if overlay and overlay_frames:
        write_video(out.with_suffix(".mp4"), np.stack(overlay_frames), fps)
    return LabelResult(str(bag), str(out), writer.steps, dict(frames.report.skipped))


def _draw(frame_set: FrameSet, cameras: list[str], actions: tuple, config) -> np.ndarray:
    """The action image of one measured action in every view (V, H, W, 3) uint8."""
    height, width = frame_set.images[cameras[0]].shape[:2]
    rig = CameraRig.from_arrays(
        [frame_set.intrinsics[c] for c in cameras], [frame_set.extrinsics[c] for c in cameras],
        width, height, dtype=torch.float32,
    )  # fmt: skip
    position, rotation, gripper = actions[:3]
    return encode(
        torch.tensor(position[None]), torch.tensor(rotation[None]), torch.tensor([gripper]),
        rig, config,
    ).to_uint8()[0].numpy()  # fmt: skip


def _label_window(window: list[FrameSet], cameras: list[str], labeler: ModelLabeler, write) -> None:
    first = window[0]
    labeled = labeler.label(
        np.stack([[fs.images[c] for c in cameras] for fs in window]),
        np.stack([first.intrinsics[c] for c in cameras]),
        np.stack([first.extrinsics[c] for c in cameras]),
    )
    for index, frame_set in enumerate(window):
        actions = (
            labeled.positions[index], labeled.rotations[index],
            float(np.clip(labeled.gripper[index], 0, 1)), float(labeled.confidence[index]),
            bool(labeled.valid[index]),
        )  # fmt: skip
        write(frame_set, labeled.action_images[index], actions)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bags", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="directory for the episodes")
    parser.add_argument(
        "--camera", action="append", default=[], metavar="NAME=TOPIC",
        help="a camera and its Image or CompressedImage topic (repeat; default: the sim's 3)",
    )  # fmt: skip
    parser.add_argument("--joint-states", default="/joint_states")
    parser.add_argument("--base-frame", default="panda_link0")
    parser.add_argument("--ee-frame", default="panda_tcp")
    parser.add_argument(
        "--ee-source", choices=["tf", "joint_states", "none"], default="tf",
        help="end-effector pose from TF (base-frame -> ee-frame), by forward kinematics, or "
        "none (with --model)",
    )  # fmt: skip
    parser.add_argument("--urdf", default="", help="URDF for --ee-source joint_states")
    parser.add_argument("--tip-link", default="panda_hand_tcp")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--slop", type=float, default=0.02)
    parser.add_argument("--overlay", action="store_true", help="also write <episode>.mp4")
    parser.add_argument(
        "--annotated-bags", action="store_true",
        help="also write <episode>_annotated/: the bag plus <camera>/action_image topics",
    )  # fmt: skip
    parser.add_argument(
        "--model", type=Path, help="label with this model's action-labeling mode instead of "
        "the robot's state (for videos without it; use with --ee-source none)",
    )  # fmt: skip
    parser.add_argument(
        "--task", default="", help="the task the demonstrations show (episode meta 'task': "
        "the model's task conditioning is learned per task name)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        labeler = ModelLabeler(load_model_directory(args.model)) if args.model else None
    except (OSError, ValueError) as error:
        raise SystemExit(f"label-bag: cannot load --model: {error}") from error
    cameras = dict(item.split("=", 1) for item in args.camera) or {
        c: f"/{c}/image_raw" for c in ("front", "left", "right")
    }
    topics = BagTopics(
        cameras=cameras, joint_states=args.joint_states, base_frame=args.base_frame,
        ee_frame=args.ee_frame, ee_source=args.ee_source, urdf=args.urdf,
        tip_link=args.tip_link,
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for bag in tqdm(args.bags, desc="labeling bags", unit="bag"):
        try:
            annotated = args.out / f"{bag.name}_annotated" if args.annotated_bags else None
            results.append(
                label_bag(
                    bag,
                    args.out / bag.name,
                    topics,
                    args.fps,
                    args.slop,
                    args.overlay,
                    annotated_bag=annotated,
                    labeler=labeler,
                    meta={"task": args.task} if args.task else None,
                )  # fmt: skip
            )
        except (BagError, ValueError) as error:
            results.append(LabelResult(str(bag), None, 0, {}, str(error)))
    summary = [result.__dict__ for result in results]
    (args.out / "labeling_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for result in results:
        status = f"{result.steps} steps" if result.episode else f"FAILED: {result.error}"
        skipped = ", ".join(f"{n} x {r}" for r, n in result.skipped.items()) or "nothing"
        print(f"{result.bag}: {status}; skipped {skipped}")


if __name__ == "__main__":
    main()
