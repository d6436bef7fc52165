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

import imageio.v3 as imageio
import numpy as np
import torch
from tqdm import tqdm

from action_images_ros.core.action_images import ActionImageConfig, encode
from action_images_ros.core.cameras import CameraRig
from action_images_ros.core.overlays import draw_overlays
from action_images_ros.core.rotations import matrix_to_quat
from action_images_ros.data.bag_reader import BagError, BagFrames, BagTopics
from action_images_ros.data.bag_recorder import BagRecorder
from action_images_ros.data.episode import EpisodeWriter


@dataclass
class LabelResult:
    bag: str
    episode: str | None
    steps: int
    skipped: dict[str, int]
    error: str | None = None


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
) -> LabelResult:
    """Turn one bag into one episode directory `out` (and `out`.mp4 with `overlay`). With
    `annotated_bag`, also write a copy of the bag with `<camera>/action_image` topics (rgb8
    Image, stamped like the camera set), for `ros2 bag play` + RViz."""
    config = config or ActionImageConfig.paper()
    frames = BagFrames(bag, topics, slop)
    cameras = list(topics.cameras)
    writer: EpisodeWriter | None = None
    annotated = BagRecorder(annotated_bag) if annotated_bag is not None else None
    overlay_frames: list[np.ndarray] = []
    next_time = -np.inf
    try:
        for frame_set in frames:
            if frame_set.stamp < next_time - 1e-6:
                frames.report.skip(f"thinned to {fps} Hz")
                continue
            next_time = frame_set.stamp + 1.0 / fps
            images = np.stack([frame_set.images[c] for c in cameras])
            height, width = images.shape[1:3]
            intrinsics = np.stack([frame_set.intrinsics[c] for c in cameras])
            extrinsics = np.stack([frame_set.extrinsics[c] for c in cameras])
            if writer is None:
                writer = EpisodeWriter(
                    out, cameras, fps, intrinsics, extrinsics, config,
                    {**(meta or {}), "source": f"bag:{Path(bag).name}"},
                )  # fmt: skip
                rig = CameraRig.from_arrays(
                    intrinsics, extrinsics, width, height, dtype=torch.float32
                )
            position, rotation = frame_set.ee_pose[:3, 3], frame_set.ee_pose[:3, :3]
            drawn = encode(
                torch.tensor(position[None]), torch.tensor(rotation[None]),
                torch.tensor([frame_set.gripper_openness]), rig, config,
            ).to_uint8()[0].numpy()  # fmt: skip
            writer.append(
                frame_set.stamp, images, drawn, position, matrix_to_quat(rotation),
                frame_set.gripper_openness, joint_positions=frame_set.joint_positions,
            )  # fmt: skip
            if annotated is not None:
                for camera, image in zip(cameras, drawn, strict=True):
                    topic = f"/{camera}/action_image"
                    annotated.write_image(
                        topic, frame_set.stamp, image, frame_set.frame_ids[camera]
                    )
            if overlay:
                overlay_frames.append(
                    np.hstack(draw_overlays(images, position[None], rotation[None],
                                            np.array([frame_set.gripper_openness]), rig, 0, config))
                )  # fmt: skip
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
        imageio.imwrite(out.with_suffix(".mp4"), np.stack(overlay_frames), fps=fps, codec="libx264")
    return LabelResult(str(bag), str(out), writer.steps, dict(frames.report.skipped))


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
        "--ee-source", choices=["tf", "joint_states"], default="tf",
        help="end-effector pose from TF (base-frame -> ee-frame) or by forward kinematics",
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
    args = parser.parse_args(argv)
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
            results.append(
                label_bag(
                    bag,
                    args.out / bag.name,
                    topics,
                    args.fps,
                    args.slop,
                    args.overlay,
                    annotated_bag=args.out / f"{bag.name}_annotated"
                    if args.annotated_bags
                    else None,
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
