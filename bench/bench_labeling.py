"""Offline labeling throughput against a plain deserializing pass, and memory on long bags.

    scripts/bootstrap.sh -- python bench/bench_labeling.py [--frames 150] [--size 128]

Writes synthetic bags of a moving robot's camera streams (3 cameras at 30 Hz) with TF and joint
states, then times, in one process, (a) a plain pass that reads, deserializes and decodes every
image of the bag, and (b) labeling it into a 10 Hz episode; prints both in bag seconds per
second of wall time, their ratio (target: labeling >= 1/5 of the plain pass), and the peak
Python heap (tracemalloc) for a bag and one 4x as long (target: flat).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from action_images_ros.core.images import raw_to_rgb
from action_images_ros.data.bag_reader import TYPESTORE, BagTopics
from action_images_ros.data.bag_recorder import BagRecorder
from action_images_ros.data.label_bag import label_bag
from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.record_demos import BASE_FRAME, TCP_FRAME, optical_frame
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
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    write_bag(work / "warm", 30, args.size)  # first-use costs (imports, codecs) out of the timing
    label_bag(work / "warm", work / "warm_episode", TOPICS)
    for label, frames in (("short", args.frames), ("long", 4 * args.frames)):
        bag = work / f"bag_{label}"
        write_bag(bag, frames, args.size)
        start = time.perf_counter()
        read_and_decode(bag)
        read_time = time.perf_counter() - start
        start = time.perf_counter()
        result = label_bag(bag, work / f"episode_{label}", TOPICS, fps=10.0)
        label_time = time.perf_counter() - start
        tracemalloc.start()  # a second run: tracemalloc slows allocation-heavy code severalfold
        label_bag(bag, work / f"episode_{label}_traced", TOPICS, fps=10.0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        seconds = frames / 30
        print(
            f"{label:>5} bag: {seconds:5.1f} s, {frames} sets of 3 x {args.size}x{args.size} at "
            f"30 Hz | plain pass {seconds / read_time:6.1f} bag-s/s | labeling to "
            f"{result.steps_written} steps at 10 Hz {seconds / label_time:6.1f} bag-s/s | "
            f"ratio {read_time / label_time:5.2f} (target >= 0.20) | "
            f"peak heap {peak / 2**20:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
