"""Episodes to and from LeRobot datasets (format v3.0), camera models included.

    action-images export-lerobot episodes/ --out lerobot_dataset/ [--robot-type panda]
    action-images import-lerobot lerobot_dataset/ --out episodes/ [--calibration cameras.json]

The writer is ours (pyarrow + PyAV): the `lerobot` package needs Python >= 3.12, and
scripts/lerobot_check/ checks the output loads through `lerobot.datasets.LeRobotDataset`.
Layout and features (see docs/data.md): meta/info.json, meta/stats.json, meta/tasks.parquet,
meta/episodes/chunk-000/file-000.parquet, one data parquet and one mp4 per video key and episode
(data/chunk-CCC/file-FFF.parquet, videos/<key>/chunk-CCC/file-FFF.mp4); per frame
observation.images.<camera> (RGB) and action_images.<camera> (the action images) videos,
observation.state and action (x y z qx qy qz qw gripper, float64), action.confidence,
action.valid, stamp (the step's real time, s), camera.<camera>.intrinsics (K, 9 row-major) and
camera.<camera>.extrinsics (T_base_camera, 16 row-major), timestamp (frame_index / fps, as LeRobot
expects), frame_index, episode_index, index, task_index. The episodes table also carries each
episode's cameras and its base and end-effector frames; meta/action_images_ros.json the drawing
settings. Import refuses a dataset without camera models unless a calibration file is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from action_images_ros.data.episode import (
    Episode,
    EpisodeError,
    apply_umask,
    check_frames,
    find_episodes,
    read_episode,
    write_episode,
)

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
OURS = "meta/action_images_ros.json"
STATE_NAMES = ["x", "y", "z", "qx", "qy", "qz", "qw", "gripper"]
_QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)


class LeRobotError(ValueError):
    """A LeRobot dataset that cannot be written or read as asked (names what is wrong)."""


def _file(kind: str, index: int, key: str = "") -> str:
    chunk, file = divmod(index, CHUNKS_SIZE)
    where = f"chunk-{chunk:03d}/file-{file:03d}"
    return f"videos/{key}/{where}.mp4" if kind == "video" else f"{kind}/{where}.parquet"


def _stats(values: np.ndarray) -> dict[str, list]:
    """LeRobot's per-feature statistics over the first axis."""
    values = np.asarray(values, dtype=np.float64)
    stats = {
        "min": values.min(0),
        "max": values.max(0),
        "mean": values.mean(0),
        "std": values.std(0),
        "count": np.array([len(values)]),
    }
    for q in _QUANTILES:
        stats[f"q{round(q * 100):02d}"] = np.quantile(values, q, axis=0)
    return {name: value.tolist() for name, value in stats.items()}


def _image_stats(frames: np.ndarray) -> dict[str, list]:
    """Per-channel statistics of (T, H, W, 3) uint8 frames in [0, 1], shaped (3, 1, 1)."""
    pixels = frames[:: max(1, len(frames) // 100)].reshape(-1, 3) / 255.0
    return {
        k: np.reshape(v, (3, 1, 1)).tolist() if k != "count" else [len(frames)]
        for k, v in _stats(pixels).items()
    }


def _write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = height, width
        stream.pix_fmt = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
        stream.options = {"crf": "10", "g": "2"}
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))


def _read_video(path: Path, start: float, end: float) -> np.ndarray:
    """Frames of `path` whose time lies in [start, end)."""
    import av

    if not path.is_file():
        raise LeRobotError(f"video file {path} is missing")
    with av.open(str(path)) as container:
        frames = [
            frame.to_ndarray(format="rgb24")
            for frame in container.decode(video=0)
            if start - 1e-4 <= frame.time < end - 1e-4
        ]
    if not frames:
        raise LeRobotError(f"{path} holds no frame between {start} and {end} s")
    return np.stack(frames)


def _video_prefixes(action_images: bool) -> tuple[str, ...]:
    return ("observation.images", "action_images") if action_images else ("observation.images",)


def _features(
    episode: Episode, fps: int, joints: int | None, action_images: bool = True
) -> dict[str, dict]:
    height, width = episode.rgb.shape[2:4]
    features: dict[str, dict] = {}
    for prefix in _video_prefixes(action_images):
        for camera in episode.cameras:
            features[f"{prefix}.{camera}"] = {
                "dtype": "video",
                "shape": [height, width, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.height": height,
                    "video.width": width,
                    "video.codec": "h264",
                    "video.pix_fmt": "yuv420p",
                    "video.is_depth_map": False,
                    "video.fps": fps,
                    "video.channels": 3,
                    "has_audio": False,
                },
            }
    vector = {"dtype": "float64", "shape": [8], "names": STATE_NAMES}
    features["observation.state"] = dict(vector)
    features["action"] = dict(vector)
    if joints:
        features["observation.joint_positions"] = {
            "dtype": "float64",
            "shape": [joints],
            "names": None,
        }
    scalar = {"shape": [1], "names": None}
    features["action.confidence"] = {"dtype": "float64", **scalar}
    features["action.valid"] = {"dtype": "bool", **scalar}
    features["stamp"] = {"dtype": "float64", **scalar}
    for camera in episode.cameras:
        features[f"camera.{camera}.intrinsics"] = {"dtype": "float64", "shape": [9], "names": None}
        features[f"camera.{camera}.extrinsics"] = {
            "dtype": "float64",
            "shape": [16],
            "names": None,
        }
    features["timestamp"] = {"dtype": "float32", **scalar}
    for name in ("frame_index", "episode_index", "index", "task_index"):
        features[name] = {"dtype": "int64", **scalar}
    return features


def _columns(episode: Episode, index: int, first: int, task: int, joints: bool) -> dict:
    steps = episode.steps
    state = np.column_stack([episode.positions, episode.quaternions, episode.gripper])
    columns = {"observation.state": state, "action": state}
    if joints:
        columns["observation.joint_positions"] = episode.joint_positions
    columns["action.confidence"] = np.asarray(episode.confidence, np.float64)
    columns["action.valid"] = np.asarray(episode.valid, bool)
    columns["stamp"] = np.asarray(episode.timestamps, np.float64)
    for v, camera in enumerate(episode.cameras):
        columns[f"camera.{camera}.intrinsics"] = np.tile(
            episode.intrinsics[v].reshape(9), (steps, 1)
        )
        columns[f"camera.{camera}.extrinsics"] = np.tile(
            episode.extrinsics[v].reshape(16), (steps, 1)
        )
    columns["timestamp"] = (np.arange(steps) / episode.fps).astype(np.float32)
    columns["frame_index"] = np.arange(steps, dtype=np.int64)
    columns["episode_index"] = np.full(steps, index, np.int64)
    columns["index"] = np.arange(first, first + steps, dtype=np.int64)
    columns["task_index"] = np.full(steps, task, np.int64)
    return columns


def _table(columns: dict, features: dict) -> object:
    """A pyarrow table with LeRobot's column types and the Hugging Face features metadata."""
    import pyarrow as pa

    arrays, hf = {}, {}
    for name, values in columns.items():
        dtype = features[name]["dtype"]
        arrow = {
            "float64": pa.float64(),
            "float32": pa.float32(),
            "int64": pa.int64(),
            "bool": pa.bool_(),
        }[dtype]
        values = np.asarray(values)
        if values.ndim == 1:
            arrays[name] = pa.array(values, type=arrow)
            hf[name] = {"dtype": dtype, "_type": "Value"}
        else:
            flat = pa.array(values.reshape(-1), type=arrow)
            arrays[name] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
            hf[name] = {
                "feature": {"dtype": dtype, "_type": "Value"},
                "length": values.shape[1],
                "_type": "List",
            }
    table = pa.table(arrays)
    return table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": hf}})})


def export_lerobot(
    episodes: str | Path,
    out: str | Path,
    robot_type: str = "panda",
    repo_id: str = "local",
    action_images: bool = True,
) -> Path:
    """Write every episode below `episodes` as one LeRobot v3.0 dataset in `out` (new).

    `action_images=False` leaves the action-image videos out (policies that take every video
    feature as a camera input, such as LeRobot's, then see the cameras only); the actions, the
    camera models and the drawing config are kept, so an import draws them again."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    paths = find_episodes(episodes)
    if not paths:
        raise LeRobotError(f"no episodes (directories with meta.json) in {episodes}")
    if out.exists() and any(out.iterdir()):
        raise LeRobotError(f"{out} exists and is not empty")
    metas = {str(p): read_episode(p, load_video=False) for p in paths}
    first = next(iter(metas.values()))
    for path, ep in metas.items():
        if (
            ep.cameras != first.cameras
            or ep.fps != first.fps
            or ep.rgb.shape[2:] != (first.rgb.shape[2:])
        ):
            raise LeRobotError(
                f"{path} differs from {paths[0]} in cameras, fps or image size: one LeRobot "
                "dataset holds one camera set at one rate"
            )
    frames = check_frames({p: ep.meta for p, ep in metas.items()})
    if float(first.fps) != int(first.fps):
        raise LeRobotError(f"LeRobot needs an integer fps, the episodes have {first.fps}")
    fps = int(first.fps)
    joints = all(ep.joint_positions is not None for ep in metas.values())
    joint_count = first.joint_positions.shape[1] if joints else None
    tasks = sorted({ep.meta.get("task", "") for ep in metas.values()})
    features = _features(first, fps, joint_count, action_images)
    out.mkdir(parents=True, exist_ok=True)
    rows, all_columns, image_stats, total = [], [], {}, 0
    for index, path in enumerate(paths):
        episode = read_episode(path)
        task = tasks.index(episode.meta.get("task", ""))
        columns = _columns(episode, index, total, task, joints)
        data_file = out / _file("data", index)
        data_file.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_table(columns, features), data_file)
        chunk, file = divmod(index, CHUNKS_SIZE)
        row = {
            "episode_index": index,
            "tasks": [tasks[task]],
            "length": episode.steps,
            "data/chunk_index": chunk,
            "data/file_index": file,
            "dataset_from_index": total,
            "dataset_to_index": total + episode.steps,
        }
        for v, camera in enumerate(episode.cameras):
            videos = {f"observation.images.{camera}": episode.rgb[:, v]}
            if action_images:
                videos[f"action_images.{camera}"] = episode.action_images[:, v]
            for key, video in videos.items():
                _write_video(out / _file("video", index, key), video, fps)
                row |= {
                    f"videos/{key}/chunk_index": chunk,
                    f"videos/{key}/file_index": file,
                    f"videos/{key}/from_timestamp": 0.0,
                    f"videos/{key}/to_timestamp": episode.steps / fps,
                }
                stats = _image_stats(video)
                row |= {f"stats/{key}/{name}": value for name, value in stats.items()}
                image_stats.setdefault(key, []).append(video[:: max(1, len(video) // 10)])
            row[f"calibration/{camera}/intrinsics"] = episode.intrinsics[v].reshape(9).tolist()
            row[f"calibration/{camera}/extrinsics"] = episode.extrinsics[v].reshape(16).tolist()
        for name, values in columns.items():
            stats = _stats(values.reshape(len(values), -1))
            row |= {f"stats/{name}/{stat}": value for stat, value in stats.items()}
        frames_of = episode.meta.get("frames") or {}
        row |= {
            "frames/base": frames_of.get("base") or "",
            "frames/end_effector": frames_of.get("end_effector") or "",
            "source": str(episode.meta.get("source", "")),
            "success": json.dumps(episode.meta.get("success")),
            "meta/episodes/chunk_index": 0,
            "meta/episodes/file_index": 0,
        }
        rows.append(row)
        all_columns.append(columns)
        total += episode.steps
    episodes_file = out / "meta/episodes/chunk-000/file-000.parquet"
    episodes_file.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), episodes_file)
    stats = {
        name: _stats(np.concatenate([c[name] for c in all_columns]).reshape(total, -1))
        for name in all_columns[0]
    }
    stats |= {key: _image_stats(np.concatenate(v)) for key, v in image_stats.items()}
    (out / "meta/stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": "task",
                "field_name": "task",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.0.0",
    }
    tasks_table = pa.table(
        {
            "task_index": pa.array(range(len(tasks)), pa.int64()),
            "task": pa.array(tasks, pa.string()),
        }
    )
    tasks_table = tasks_table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})
    pq.write_table(tasks_table, out / "meta/tasks.parquet")
    info = {
        "codebase_version": CODEBASE_VERSION,
        "fps": fps,
        "features": features,
        "total_episodes": len(paths),
        "total_frames": total,
        "total_tasks": len(tasks),
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200,
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        "robot_type": robot_type,
        "splits": {"train": f"0:{len(paths)}"},
    }
    (out / "meta/info.json").write_text(json.dumps(info, indent=4) + "\n")
    config = first.action_image_config
    ours = {
        "format_version": 1,
        "repo_id": repo_id,
        "cameras": first.cameras,
        "frames": frames,
        "action_image": {
            "offset": config.offset,
            "sigma_fraction": config.sigma_fraction,
            "background": config.background,
            "gripper_encoding": config.gripper_encoding,
        },
    }
    (out / OURS).write_text(json.dumps(ours, indent=2) + "\n")
    apply_umask(out)
    return out


def _load_calibration(path: Path, cameras: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A calibration file: JSON or YAML {camera: {K: 3x3, T_base_camera: 4x4}} (cameras.json)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
        models = {
            c: (np.array(data[c]["K"], float), np.array(data[c]["T_base_camera"], float))
            for c in cameras
        }
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise LeRobotError(
            f"calibration file {path} must give K and T_base_camera for cameras {cameras}: "
            f"{type(error).__name__}: {error}"
        ) from error
    for camera, (k, t) in models.items():
        if k.shape != (3, 3) or t.shape != (4, 4):
            raise LeRobotError(f"calibration of {camera}: need a 3x3 K and a 4x4 T_base_camera")
    return models


def import_lerobot(
    root: str | Path, out: str | Path, calibration: str | Path | None = None
) -> list[Path]:
    """Read a LeRobot v3.0 dataset into one episode directory per episode below `out`."""
    import pyarrow.parquet as pq

    from action_images_ros.core.action_images import ActionImageConfig

    root, out = Path(root), Path(out)
    try:
        info = json.loads((root / "meta/info.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise LeRobotError(f"{root} is not a LeRobot dataset: {error}") from error
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise LeRobotError(f"{root}: codebase_version {info.get('codebase_version')}, need v3.0")
    features, fps = info["features"], info["fps"]
    cameras = [
        k.removeprefix("observation.images.")
        for k, f in features.items()
        if k.startswith("observation.images.") and f["dtype"] == "video"
    ]
    if not cameras:
        raise LeRobotError(f"{root} has no observation.images.<camera> video features")
    has_models = all(f"camera.{c}.intrinsics" in features for c in cameras)
    fixed = _load_calibration(Path(calibration), cameras) if calibration else None
    if not has_models and fixed is None:
        raise LeRobotError(
            f"{root} carries no camera models (camera.<camera>.intrinsics/extrinsics features); "
            "give --calibration FILE with K and T_base_camera per camera"
        )
    ours = json.loads((root / OURS).read_text()) if (root / OURS).is_file() else {}
    config = ActionImageConfig(**ours["action_image"]) if "action_image" in ours else None
    config = config or ActionImageConfig.paper()
    tasks = pq.read_table(root / "meta/tasks.parquet").to_pydict()
    task_names = dict(zip(tasks["task_index"], tasks["task"], strict=True))
    episode_files = sorted((root / "meta/episodes").glob("chunk-*/file-*.parquet"))
    if not episode_files:
        raise LeRobotError(f"{root} has no meta/episodes/chunk-*/file-*.parquet")
    rows = [row for f in episode_files for row in pq.read_table(f).to_pylist()]
    written = []
    for row in rows:
        index = row["episode_index"]
        data_path = root / info["data_path"].format(
            chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )
        if not data_path.is_file():
            raise LeRobotError(f"episode {index}: data file {data_path} is missing")
        data = pq.read_table(data_path).to_pydict()
        mine = [i for i, e in enumerate(data["episode_index"]) if e == index]
        length = row["length"]
        if not mine or len(mine) != length or data["index"][mine[0]] != row["dataset_from_index"]:
            raise LeRobotError(
                f"episode {index}: the episodes table says {length} frames from index "
                f"{row['dataset_from_index']}, {data_path} holds {len(mine)} rows with "
                f"episode_index {index}"
            )
        if [data["frame_index"][i] for i in mine] != list(range(length)):
            raise LeRobotError(f"episode {index}: frame_index is not 0..{length - 1} in order")
        column = {name: np.array([values[i] for i in mine]) for name, values in data.items()}
        rgb, actions = [], []
        for camera in cameras:
            for key, into in (
                (f"observation.images.{camera}", rgb),
                (f"action_images.{camera}", actions),
            ):
                if key not in features:
                    continue
                video = root / info["video_path"].format(
                    video_key=key,
                    chunk_index=row[f"videos/{key}/chunk_index"],
                    file_index=row[f"videos/{key}/file_index"],
                )
                frames = _read_video(
                    video, row[f"videos/{key}/from_timestamp"], row[f"videos/{key}/to_timestamp"]
                )
                if len(frames) != length:
                    raise LeRobotError(
                        f"episode {index}: {video} holds {len(frames)} frames of "
                        f"this episode, the table says {length}"
                    )
                into.append(frames)
        rgb = np.stack(rgb, 1)
        actions = np.stack(actions, 1) if actions else np.zeros_like(rgb)
        if fixed is not None:
            intrinsics = np.stack([fixed[c][0] for c in cameras])
            extrinsics = np.stack([fixed[c][1] for c in cameras])
        else:
            intrinsics = np.stack(
                [column[f"camera.{c}.intrinsics"][0].reshape(3, 3) for c in cameras]
            )
            extrinsics = np.stack(
                [column[f"camera.{c}.extrinsics"][0].reshape(4, 4) for c in cameras]
            )
        state = column["action"] if "action" in column else column["observation.state"]
        if state.shape[1] != 8:
            raise LeRobotError(
                f"episode {index}: action has {state.shape[1]} values, need x y z qx qy qz qw "
                "gripper (an end-effector pose in the base frame)"
            )
        meta = {
            "task": task_names.get(int(column["task_index"][0]), ""),
            "source": row.get("source") or f"lerobot:{root.name}",
        }
        if row.get("frames/base"):
            meta["frames"] = {
                "base": row["frames/base"],
                "end_effector": row.get("frames/end_effector") or None,
            }
        if row.get("success") not in (None, "null"):
            meta["success"] = json.loads(row["success"])
        stamps = column["stamp"] if "stamp" in column else column["timestamp"].astype(np.float64)
        episode = Episode(
            cameras=cameras,
            fps=fps,
            intrinsics=intrinsics,
            extrinsics=extrinsics,
            rgb=rgb,
            action_images=actions,
            timestamps=stamps.reshape(-1),
            positions=state[:, :3],
            quaternions=state[:, 3:7],
            gripper=state[:, 7],
            confidence=column.get("action.confidence"),
            valid=None if "action.valid" not in column else column["action.valid"].astype(bool),
            joint_positions=column.get("observation.joint_positions"),
            meta=meta,
            action_image_config=config,
        )
        written.append(write_episode(out / f"episode_{index:06d}", episode))
    return written


def export_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="action-images export-lerobot",
        description="Episodes to a LeRobot v3.0 dataset.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("episodes", type=Path, help="directory of episodes (any depth)")
    parser.add_argument("--out", type=Path, required=True, help="new dataset directory")
    parser.add_argument("--robot-type", default="panda", help="info.json robot_type")
    parser.add_argument(
        "--no-action-images",
        action="store_true",
        help="leave the action-image videos out (the cameras only; the import draws them again)",
    )
    args = parser.parse_args(argv)
    try:
        path = export_lerobot(
            args.episodes, args.out, args.robot_type, action_images=not args.no_action_images
        )
    except (LeRobotError, EpisodeError) as error:
        print(f"export-lerobot: {error}", file=sys.stderr)
        return 1
    print(f"LeRobot v3.0 dataset in {path}")
    return 0


def import_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="action-images import-lerobot",
        description="A LeRobot v3.0 dataset with camera models to episodes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("dataset", type=Path, help="LeRobot dataset root (meta/info.json)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the episodes")
    parser.add_argument(
        "--calibration",
        type=Path,
        help="JSON/YAML {camera: {K, T_base_camera}} for a dataset without camera models",
    )
    args = parser.parse_args(argv)
    try:
        written = import_lerobot(args.dataset, args.out, args.calibration)
    except (LeRobotError, EpisodeError) as error:
        print(f"import-lerobot: {error}", file=sys.stderr)
        return 1
    print(f"{len(written)} episodes in {args.out}")
    return 0
