"""Offline labeling throughput against a plain deserializing pass, and memory on long bags.

    scripts/bootstrap.sh -- python bench/bench_labeling.py [--frames 150] [--size 128] \
        [--repeats 5] [--store-action-images]

Writes synthetic bags of a moving robot's camera streams (3 cameras at 30 Hz) with TF and joint
states, then times, in one process, (a) a plain pass that reads, deserializes and decodes every
image of the bag, and (b) labeling it into a 10 Hz episode, alternating the two `--repeats`
times; prints both (the median run) in bag seconds per second of wall time, the ratio of the
best runs and the median ratio of a run (target: labeling >= 1/5 of the plain pass), the load
average (the figures move with other work on the machine), and the peak Python heap
(tracemalloc) for a bag and one 4x as long (target: flat).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from action_images_ros.core.images import raw_to_rgb
from action_images_ros.core.robot_assets import BASE_FRAME, TCP_FRAME, optical_frame
from action_images_ros.data.bag_reader import TYPESTORE, BagTopics
from action_images_ros.data.bag_recorder import BagRecorder
from action_images_ros.label_bag import label_bag
from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.scene import SceneConfig, default_cameras

TOPICS = BagTopics(cameras={c: f"/{c}/image_raw" for c in ("front", "left", "right")})


def write_bag(path: Path, frames: int, size: int) -> None:
    sim = PandaSim(SceneConfig(cameras=default_cameras(size, size)))
    rendered = sim.render()
    with BagRecorder(path) as bag:
        bag.write_transforms(
            0.0,
            [(BASE_FRAME, optical_frame(n), sim.camera_extrinsics(n)) for n in rendered],
            static=True,
        )
        names, q, dq = sim.joint_state()
        for i in range(frames):
            t = i / 30
            pose = np.eye(4)
            pose[:3, 3] = [0.5 + 0.1 * np.sin(t), 0.1 * np.cos(t), 0.3]
            pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
            bag.write_transforms(t, [(BASE_FRAME, TCP_FRAME, pose)])
            bag.write_joint_state(t, names, q, dq)
            for name, rgb in rendered.items():
                bag.write_camera(t, name, rgb, sim.camera_intrinsics(name), optical_frame(name))
    sim.close()


def read_and_decode(path: Path) -> int:
    count = 0
    with Reader(path) as reader:
        images = [c for c in reader.connections if c.topic.endswith("image_raw")]
        for connection, _, raw in reader.messages(images):
            msg = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
            raw_to_rgb(
                msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data.tobytes()
            )
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150, help="camera sets in the short bag")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each pass")
    parser.add_argument(
        "--store-action-images", action="store_true", help="label writing the action videos"
    )
    args = parser.parse_args()
    store = args.store_action_images
    work = Path(tempfile.mkdtemp())
    write_bag(work / "warm", 30, args.size)  # first-use costs (imports, codecs) out of the timing
    label_bag(work / "warm", work / "warm_episode", TOPICS)
    for label, frames in (("short", args.frames), ("long", 4 * args.frames)):
        bag = work / f"bag_{label}"
        write_bag(bag, frames, args.size)
        read_times, label_times = [], []
        for run in range(args.repeats):
            start = time.perf_counter()
            read_and_decode(bag)
            read_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = label_bag(
                bag, work / f"episode_{label}_{run}", TOPICS, fps=10.0, store_action_images=store
            )
            label_times.append(time.perf_counter() - start)
        tracemalloc.start()  # a second run: tracemalloc slows allocation-heavy code severalfold
        label_bag(
            bag, work / f"episode_{label}_traced", TOPICS, fps=10.0, store_action_images=store
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        seconds = frames / 30
        ratios = [r / t for r, t in zip(read_times, label_times, strict=True)]
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(
            f"{label:>5} bag: {seconds:5.1f} s, {frames} sets of 3 x {args.size}x{args.size} at "
            f"30 Hz | plain pass {seconds / statistics.median(read_times):6.1f} bag-s/s | "
            f"labeling to {result.steps_written} steps at 10 Hz "
            f"{seconds / statistics.median(label_times):6.1f} bag-s/s | ratio of the best "
            f"runs {min(read_times) / min(label_times):5.2f}, median "
            f"{statistics.median(ratios):5.2f} of {args.repeats} runs "
            f"(target >= 0.20) | load {load} | peak heap {peak / 2**20:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
