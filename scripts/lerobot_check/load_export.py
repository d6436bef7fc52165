"""Load one of our LeRobot exports through the real `lerobot` package and check it.

    <lerobot venv>/bin/python scripts/lerobot_check/load_export.py DATASET_DIR

Runs in the Python 3.12 environment made by setup_env.sh (it does not import action_images_ros).
Checks, through `lerobot.datasets.lerobot_dataset.LeRobotDataset`: the frame and episode counts,
the features (videos, state, action, camera models, stamps), every episode's boundaries (first
and last frame carry its episode_index and frame_index 0 / length - 1), each frame's tabular
values against the parquet files, and decoded video frames (shape, range, and closeness to the
frames PyAV decodes from the same mp4). Prints what it checked; exits 1 on any mismatch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
from lerobot.datasets.lerobot_dataset import LeRobotDataset


def main(root: Path) -> int:
    problems: list[str] = []
    info = json.loads((root / "meta/info.json").read_text())
    dataset = LeRobotDataset("local/action_images_export", root=root, video_backend="pyav")
    print(
        f"lerobot loaded {root}: {dataset.num_episodes} episodes, {dataset.num_frames} frames, "
        f"fps {dataset.fps}, cameras {dataset.meta.camera_keys}"
    )
    if dataset.num_frames != info["total_frames"] or dataset.num_episodes != info["total_episodes"]:
        problems.append("frame or episode count differs from info.json")
    wanted = [k for k in info["features"]]
    missing = [k for k in wanted if k not in dataset.features]
    if missing:
        problems.append(f"features missing in LeRobotDataset: {missing}")
    episodes = dataset.meta.episodes
    data = {}
    for file in sorted((root / "data").glob("chunk-*/file-*.parquet")):
        table = pq.read_table(file).to_pydict()
        for row, index in enumerate(table["index"]):
            data[index] = {k: v[row] for k, v in table.items()}
    checked_frames = 0
    for e in range(dataset.num_episodes):
        start, end = episodes["dataset_from_index"][e], episodes["dataset_to_index"][e]
        for position in sorted({start, (start + end) // 2, end - 1}):
            item = dataset[position]
            expected = data[position]
            if int(item["episode_index"]) != e:
                problems.append(
                    f"frame {position}: episode_index {int(item['episode_index'])}, expected {e}"
                )
            if int(item["frame_index"]) != position - start:
                problems.append(f"frame {position}: frame_index {int(item['frame_index'])}")
            for key in ("action", "observation.state", "stamp"):
                # LeRobot hands out float32 tensors: compare at that precision.
                got = np.asarray(item[key]).reshape(-1)
                want = np.asarray(expected[key], dtype=np.float64).reshape(-1).astype(got.dtype)
                if not np.array_equal(got, want):
                    problems.append(f"frame {position}: {key} differs from the parquet")
            for key in dataset.meta.camera_keys:
                image = item[key].numpy()
                height, width = info["features"][key]["shape"][:2]
                if image.shape != (3, height, width) or image.min() < 0 or image.max() > 1:
                    problems.append(f"frame {position}: {key} decoded as {image.shape}")
                    continue
                video = root / info["video_path"].format(
                    video_key=key,
                    chunk_index=episodes[f"videos/{key}/chunk_index"][e],
                    file_index=episodes[f"videos/{key}/file_index"][e],
                )
                with av.open(str(video)) as container:
                    frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
                offset = round(episodes[f"videos/{key}/from_timestamp"][e] * dataset.fps)
                reference = frames[offset + position - start].transpose(2, 0, 1) / 255.0
                error = float(np.abs(reference - image).mean())
                if error > 0.02:
                    problems.append(f"frame {position}: {key} is {error:.3f} from the mp4 frame")
            checked_frames += 1
        print(
            f"episode {e}: frames {start}..{end - 1}, {end - start} long, boundaries and "
            f"values checked"
        )
    camera_models = [k for k in dataset.features if k.startswith("camera.")]
    print(f"checked {checked_frames} frames; camera model features: {camera_models}")
    for problem in problems:
        print(f"MISMATCH: {problem}")
    print("OK" if not problems else f"{len(problems)} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(Path(sys.argv[1])))
