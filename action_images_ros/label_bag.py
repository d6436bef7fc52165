"""Label recorded demonstrations: rosbag2 bags in, training episodes and overlay videos out.

    python -m action_images_ros.label_bag demos/*/ --out episodes/ \
        --camera front=/front/image_raw --camera left=/left/image_raw --fps 10 --overlay

Per bag: camera frames synchronized within `--slop`, camera extrinsics and the end-effector pose
from the bag's TF (chained and interpolated), the gripper from joint states (or from its command
topic, `--gripper-command`); the action image of each step drawn with the codec; one episode
written (see data.episode) and, with `--overlay`, an mp4 of all views with the action path drawn
in. Nothing is dropped silently: the summary lists, per bag, the sets labeled and every skip
reason with its count.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

# Heavy modules (torch, cv2, rosbags, av, the model) are imported where they are used, so that
# `--help` and argument errors answer at once.
if TYPE_CHECKING:
    import numpy as np

    from action_images_ros.core.action_images import ActionImageConfig
    from action_images_ros.data.bag_reader import BagTopics, FrameSet
    from action_images_ros.model.labeling import ModelLabeler


@dataclass
class LabelResult:
    """One bag's outcome, in one unit: camera sets read, steps written, each skip reason
    counted once per set (sets_read == steps_written + sum(skipped)); unmatched camera frames
    and grid steps with no set are counted apart; `error` is set when the bag failed.
    `windows_skipped` (model labeling): steps that start no window of the model's frames
    `frame_interval` apart, for a gap in time (each also a skipped set)."""

    bag: str
    episode: str | None
    steps_written: int
    sets_read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    unmatched_frames: dict[str, int] = field(default_factory=dict)
    missing_steps: int = 0
    truncated: str | None = None
    error: str | None = None
    windows_skipped: int = 0

    @property
    def steps(self) -> int:
        return self.steps_written

    @property
    def failed(self) -> bool:
        return self.error is not None


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
    store_action_images: bool = False,
) -> LabelResult:
    """Turn one bag into one episode directory `out` (and `out`.mp4 with `overlay`).

    The bag's camera sets are resampled to `fps` (the set nearest each due time, within `slop`);
    each step keeps its set's real stamp. Actions come from the robot's state (TF or joint
    states, see BagTopics.ee_source) or, with `labeler`, from the model's action-labeling mode
    on windows of frames (for videos without robot state; decoded with a confidence per step,
    undecodable steps flagged invalid). The windows are built from the steps' stamps like the
    training windows (data.windows): the model's frames `frame_interval` apart; a step that
    starts no such window is skipped and counted (`windows_skipped`).

    The episode's action images are drawn again from its actions when read;
    `store_action_images` also writes them (for model labels: the model's own images). With
    `annotated_bag`, also write a copy of the bag with `<camera>/action_image` topics (rgb8
    Image, stamped like the camera set), for `ros2 bag play` + RViz. Raises BagError for a bag
    that cannot be read; a bag that yields no step returns a result whose `error` says why.
    """
    import numpy as np

    from action_images_ros.core.action_images import ActionImageConfig
    from action_images_ros.core.cameras import CameraRig
    from action_images_ros.core.overlays import draw_overlays
    from action_images_ros.core.rotations import matrix_to_quat
    from action_images_ros.data.bag_reader import BagFrames
    from action_images_ros.data.bag_recorder import BagRecorder
    from action_images_ros.data.episode import EpisodeWriter, draw_action_images
    from action_images_ros.data.video import write_video

    config = config or ActionImageConfig.paper()
    frames = BagFrames(bag, topics, slop, fps=fps)
    cameras = list(topics.cameras)
    writer: EpisodeWriter | None = None
    annotated = BagRecorder(annotated_bag) if annotated_bag is not None else None
    overlay_frames: list[np.ndarray] = []
    windows = None if labeler is None else _ModelWindows(labeler, cameras, fps, frames.report)
    end_effector = {"tf": topics.ee_frame, "joint_states": topics.tip_link}.get(topics.ee_source)
    needs_images = store_action_images or annotated is not None  # else drawn when read

    def write(frame_set: FrameSet, drawn: np.ndarray | None, actions: tuple) -> None:
        nonlocal writer
        images = np.stack([frame_set.images[c] for c in cameras])
        intrinsics = np.stack([frame_set.intrinsics[c] for c in cameras])
        extrinsics = np.stack([frame_set.extrinsics[c] for c in cameras])
        position, rotation, gripper, confidence, valid = actions
        orientation = rotation  # the writer turns all steps' matrices into quaternions at once
        if needs_images and drawn is None:  # drawn from what is stored, as a reader redraws it
            orientation = matrix_to_quat(rotation)
            drawn = draw_action_images(
                position,
                orientation,
                gripper,
                intrinsics,
                extrinsics,
                images.shape[2],
                images.shape[1],
                config,
            )[0]
        if writer is None:
            source = "model" if labeler else topics.ee_source
            episode_meta = {
                **(meta or {}),
                "source": f"bag:{Path(bag).name}",
                "actions_from": source,
                "frames": {"base": topics.base_frame, "end_effector": end_effector},
            }
            writer = EpisodeWriter(
                out,
                cameras,
                fps,
                intrinsics,
                extrinsics,
                config,
                episode_meta,
                store_action_images,
            )
        writer.append(
            frame_set.stamp,
            images,
            drawn,
            position,
            orientation,
            gripper,
            confidence,
            valid,
            frame_set.joint_positions,
        )
        if annotated is not None:
            for camera, image in zip(cameras, drawn, strict=True):
                annotated.write_image(
                    f"/{camera}/action_image", frame_set.stamp, image, frame_set.frame_ids[camera]
                )
        if overlay:
            rig = CameraRig.from_arrays(intrinsics, extrinsics, images.shape[2], images.shape[1])
            overlay_frames.append(
                np.hstack(
                    draw_overlays(
                        images, position[None], rotation[None], np.array([gripper]), rig, 0, config
                    )
                )
            )

    import torch

    threads = torch.get_num_threads()
    if labeler is None and needs_images:
        # Drawing one step's action images is a few small tensor operations: on one thread
        # they run about 20x faster than split across the cores (measured on 2 busy cores).
        torch.set_num_threads(1)
    try:
        for frame_set in frames:
            if labeler is None:
                write(frame_set, None, _robot_state_actions(frame_set))
                continue
            windows.push(frame_set, write)
        if windows is not None:
            windows.finish(write)
        if writer is not None:
            writer.close()
            if annotated is not None:
                annotated.copy_from(bag)
                annotated.close()
        elif annotated is not None:
            annotated.close(keep=False)
    except BaseException:
        if writer is not None:
            writer.discard()
        if annotated is not None:
            annotated.close(keep=False)
        raise
    finally:
        torch.set_num_threads(threads)
        frames.close()
    report = frames.report
    result = LabelResult(
        str(bag),
        None if writer is None else str(out),
        0 if writer is None else writer.steps,
        report.sets,
        dict(report.skipped),
        dict(report.unmatched_frames),
        report.missing_steps,
        report.truncation.describe() if report.truncation else None,
        windows_skipped=0 if windows is None else windows.skipped,
    )
    if writer is None:
        result.error = _why_no_step(report, cameras)
    elif overlay and overlay_frames:
        write_video(out.with_suffix(".mp4"), np.stack(overlay_frames), fps)
    return result


def _why_no_step(report: object, cameras: list[str]) -> str:
    """Why a bag gave no step, naming what was lacking."""
    if report.sets == 0:
        silent = [c for c in cameras if report.unmatched_frames.get(c, 0) == 0]
        if silent and len(silent) < len(cameras):
            return f"no frame set: no images from camera(s) {silent}"
        if not any(report.unmatched_frames.values()):
            return "no frame set: the camera topics hold no images"
        return "no frame set: no frames of every camera within the slop"
    reasons = ", ".join(f"{n} x {r}" for r, n in report.skipped.items())
    return f"no frame set could be labeled ({report.sets} read: {reasons})"


class _ModelWindows:
    """Frame sets into the model's windows (data.windows.WindowStream), labeled as each window
    is complete and written in time order; steps outside every window skipped and counted."""

    GAP = "no model window from this step (a gap in time off the model's frame interval)"
    END = "the last frames do not fill a model window"

    def __init__(self, labeler: ModelLabeler, cameras: list[str], fps: float, report) -> None:
        from action_images_ros.data.windows import WindowStream, window_tolerance

        c = labeler.bundle.config  # the model directory's policy config: frames, interval
        tolerance = window_tolerance(c.frame_interval, fps)
        self.stream = WindowStream(c.frames, c.frame_interval, tolerance)
        self.labeler, self.cameras, self.report = labeler, cameras, report
        self.skipped = 0
        self._count = 0  # steps pushed
        self._next = 0  # the next step to write
        self._done: dict[int, tuple | None] = {}  # step -> (frame set, images, actions) or None

    def push(self, frame_set: FrameSet, write) -> None:
        self._handle(self.stream.push(frame_set.stamp, (self._count, frame_set)), write)
        self._count += 1

    def finish(self, write) -> None:
        self._handle(self.stream.finish(), write)

    def _handle(self, events: list, write) -> None:
        for kind, taken in events:
            if kind == "window":
                labeled = _label_window([fs for _, fs in taken], self.cameras, self.labeler)
                self._done.update(zip((index for index, _ in taken), labeled, strict=True))
                continue
            self.report.skip(self.GAP if kind == "gap" else self.END)
            self.skipped += kind == "gap"
            self._done[taken[0]] = None
        while self._next in self._done:
            step = self._done.pop(self._next)
            if step is not None:
                write(*step)
            self._next += 1


def _label_window(window: list[FrameSet], cameras: list[str], labeler: ModelLabeler) -> list:
    """(frame set, the model's action images, actions) of each step of one window."""
    import numpy as np

    first = window[0]
    labeled = labeler.label(
        np.stack([[fs.images[c] for c in cameras] for fs in window]),
        np.stack([first.intrinsics[c] for c in cameras]),
        np.stack([first.extrinsics[c] for c in cameras]),
    )
    steps = []
    for index, frame_set in enumerate(window):
        actions = (
            labeled.positions[index],
            labeled.rotations[index],
            float(np.clip(labeled.gripper[index], 0, 1)),
            float(labeled.confidence[index]),
            bool(labeled.valid[index]),
        )
        steps.append((frame_set, labeled.action_images[index], actions))
    return steps


_LABELERS: dict[str, ModelLabeler] = {}  # per process: a --jobs worker loads the model once


def _labeler(model: str | None) -> ModelLabeler | None:
    if model is None:
        return None
    if model not in _LABELERS:
        from action_images_ros.model.labeling import ModelLabeler
        from action_images_ros.model.loading import load_model_directory

        _LABELERS[model] = ModelLabeler(load_model_directory(model))
    return _LABELERS[model]


def _label_job(job: dict) -> LabelResult:
    """Label one bag of a run (in this process or a --jobs worker); any failure becomes the
    result's `error`, naming the reason, so one bad bag never ends the others' labeling."""
    bag = Path(job["bag"])
    try:
        return label_bag(
            bag,
            Path(job["out"]),
            job["topics"],
            job["fps"],
            job["slop"],
            job["overlay"],
            annotated_bag=job["annotated"],
            labeler=_labeler(job["model"]),
            meta=job["meta"],
            store_action_images=job["store_action_images"],
        )
    except Exception as error:  # noqa: BLE001 -- reported per bag, the run's status fails
        from action_images_ros.data.bag_reader import BagError

        reason = str(error) if isinstance(error, BagError) else f"{type(error).__name__}: {error}"
        return LabelResult(str(bag), None, 0, error=reason)


def build_parser() -> argparse.ArgumentParser:
    """The command line; the frame defaults come from the packaged robot model."""
    from action_images_ros.core.robot_assets import TOOL_FRAME, base_frame

    parser = argparse.ArgumentParser(
        prog="action-images label-bag",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("bags", nargs="+", type=Path, help="rosbag2 directories (or .mcap files)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the episodes")
    parser.add_argument(
        "--camera",
        action="append",
        default=argparse.SUPPRESS,
        metavar="NAME=TOPIC",
        help="a camera and its Image or CompressedImage topic (repeat; default: the sim's "
        "front, left and right on /<name>/image_raw)",
    )
    parser.add_argument("--joint-states", default="/joint_states", help="JointState topic")
    parser.add_argument(
        "--base-frame",
        default=base_frame(),
        help="frame the actions and cameras are expressed in (the URDF's root link)",
    )
    parser.add_argument(
        "--ee-frame", default=TOOL_FRAME, help="end-effector TF frame (for --ee-source tf)"
    )
    parser.add_argument(
        "--ee-source",
        choices=["tf", "joint_states", "none"],
        default="tf",
        help="end-effector pose from TF (base-frame -> ee-frame), by forward kinematics "
        "(base-frame -> tip-link), or none (with --model)",
    )
    parser.add_argument(
        "--urdf", default="", help="URDF for --ee-source joint_states ('' = the packaged Panda)"
    )
    parser.add_argument("--tip-link", default=TOOL_FRAME, help="URDF tool link for FK")
    parser.add_argument(
        "--gripper-joint",
        default="panda_finger_joint1",
        help="joint_states entry whose position measures the gripper's opening",
    )
    parser.add_argument(
        "--gripper-open-position",
        type=float,
        default=0.04,
        help="--gripper-joint's position when fully open",
    )
    parser.add_argument(
        "--gripper-command",
        metavar="TOPIC",
        help="take the gripper from this std_msgs/Float64MultiArray command topic (data[0]: "
        "openness 0..1, the newest at each step) instead of --gripper-joint",
    )
    parser.add_argument(
        "--fps", type=float, default=10.0, help="episode rate: the set nearest each due time"
    )
    parser.add_argument(
        "--slop",
        type=float,
        default=0.02,
        help="seconds: largest stamp spread within a camera set, and largest distance of a "
        "set from its due time",
    )
    parser.add_argument("--overlay", action="store_true", help="also write <episode>.mp4")
    parser.add_argument(
        "--annotated-bags",
        action="store_true",
        help="also write <episode>_annotated/: the bag plus <camera>/action_image topics",
    )
    parser.add_argument(
        "--store-action-images",
        action="store_true",
        help="also write each episode's action images (lossless video); without, readers draw "
        "them again from the actions, which is exact and makes labeling several times faster",
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="label with this model's action-labeling mode instead of "
        "the robot's state (for videos without it; use with --ee-source none)",
    )
    parser.add_argument(
        "--task",
        default="",
        help="the task the demonstrations show (episode meta 'task': "
        "the model's task conditioning is learned per task name)",
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="after a bag fails, label the others (the exit status still fails at the end)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="bags labeled in parallel processes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Label every bag; exits 1 when any bag failed (the summary names each failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if not args.fps > 0 or not args.slop >= 0:
        parser.error(f"need --fps > 0 and --slop >= 0, got {args.fps} and {args.slop}")
    if not args.gripper_open_position > 0:
        parser.error(f"--gripper-open-position must be positive, got {args.gripper_open_position}")
    given = getattr(args, "camera", [])
    cameras = dict(item.split("=", 1) for item in given if "=" in item)
    if len(cameras) != len(given):
        parser.error(f"--camera takes NAME=TOPIC, got {given}")
    from action_images_ros.data.bag_reader import BagTopics

    cameras = cameras or {c: f"/{c}/image_raw" for c in ("front", "left", "right")}
    if args.model is not None:  # refused before any bag is read
        try:
            _labeler(str(args.model))
        except (OSError, ValueError) as error:
            raise SystemExit(f"label-bag: cannot load --model: {error}") from error
    topics = BagTopics(
        cameras=cameras,
        joint_states=args.joint_states,
        base_frame=args.base_frame,
        ee_frame=args.ee_frame,
        ee_source=args.ee_source,
        urdf=args.urdf,
        tip_link=args.tip_link,
        gripper_joint=args.gripper_joint,
        gripper_open_position=args.gripper_open_position,
        gripper_command=args.gripper_command,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [
        {
            "bag": str(bag),
            "out": str(args.out / bag.name),
            "topics": topics,
            "fps": args.fps,
            "slop": args.slop,
            "overlay": args.overlay,
            "annotated": args.out / f"{bag.name}_annotated" if args.annotated_bags else None,
            "model": None if args.model is None else str(args.model),
            "meta": {"task": args.task} if args.task else None,
            "store_action_images": args.store_action_images,
        }
        for bag in args.bags
    ]
    results = _run(jobs, args.jobs, args.keep_going)
    summary = [asdict(result) for result in results]
    (args.out / "labeling_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for result in results:
        print(_describe(result))
    failed = [result for result in results if result.failed]
    if failed:
        print(
            f"{len(failed)} of {len(results)} bags FAILED (see {args.out}/labeling_summary.json)",
            file=sys.stderr,
        )
        raise SystemExit(1)
    return 0


def _run(jobs: list[dict], workers: int, keep_going: bool) -> list[LabelResult]:
    """Label the jobs in order (or in `workers` processes); without `keep_going`, stop at the
    first failure and list the bags not attempted."""
    results: dict[int, LabelResult] = {}
    if workers == 1:
        for index, job in enumerate(jobs):
            results[index] = _label_job(job)
            if results[index].failed and not keep_going:
                break
    else:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(_label_job, job): index for index, job in enumerate(jobs)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    results[futures[future]] = future.result()
                if not keep_going and any(r.failed for r in results.values()):
                    for future in pending:
                        future.cancel()
                    finished = [f for f in pending if not f.cancelled()]
                    for future in finished:
                        results[futures[future]] = future.result()
                    break
    skipped_reason = "not attempted: an earlier bag failed (use --keep-going to label it)"
    return [
        results.get(index) or LabelResult(job["bag"], None, 0, error=skipped_reason)
        for index, job in enumerate(jobs)
    ]


def _describe(result: LabelResult) -> str:
    if result.failed:
        return f"{result.bag}: FAILED: {result.error}"
    skipped = ", ".join(f"{n} x {r}" for r, n in result.skipped.items()) or "none"
    line = (
        f"{result.bag}: {result.steps_written} steps from {result.sets_read} sets read; "
        f"skipped sets: {skipped}; {result.missing_steps} missing steps"
    )
    if result.windows_skipped:
        line += f"; {result.windows_skipped} model windows skipped for gaps in time"
    if result.truncated:
        line += f"; TRUNCATED: {result.truncated}"
    return line


if __name__ == "__main__":
    main()
