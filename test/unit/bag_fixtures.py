"""Small synthetic bags, as independent recorders write them: cameras at 30 Hz with stamp jitter,
TF at 100 Hz, joint states at 50 Hz. No rendering, so tests that label them are fast.

The end effector moves on a known path (`ee_pose(t)`), the cameras sit at known poses, and the
images are seeded noise, so labeling can be checked against the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from action_images_ros.data.bag_recorder import _T, TYPESTORE, BagRecorder, _header

CAMERAS = ("front", "left")
BASE, TOOL = "panda_link0", "panda_hand_tcp"
SIZE = 32
K = np.array([[30.0, 0, 16], [0, 30.0, 16], [0, 0, 1]])


def camera_pose(index: int) -> np.ndarray:
    """A camera 1 m from the workspace, looking at it (optical frame: z forward)."""
    pose = np.eye(4)
    angle = 0.6 * (index - 0.5)
    pose[:3, 3] = [0.5 + np.sin(angle), np.cos(angle) * 0.0 + np.sin(angle), 1.0]
    forward = np.array([0.5, 0.0, 0.2]) - pose[:3, 3]
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    return pose


def ee_pose(t: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = [0.5 + 0.1 * np.sin(t), 0.1 * np.cos(t), 0.3]
    return pose


def write_bag(
    path: Path,
    seconds: float = 3.0,
    camera_rate: float = 30.0,
    jitter: float = 0.004,
    seed: int = 0,
    drop: Callable[[int], bool] = lambda i: False,
    stamp_of: Callable[[int, float], float] = lambda i, t: t,
    encoding_of: Callable[[int], str] = lambda i: "rgb8",
    tf_until: float | None = None,
    cameras: tuple[str, ...] = CAMERAS,
    silent: tuple[str, ...] = (),
    camera_info: bool = True,
    storage: str = "mcap",
) -> Path:
    """A bag of `seconds` of recording; frame `i` of the cameras is stamped near i / rate
    (`stamp_of` may move it), skipped when `drop(i)`, encoded as `encoding_of(i)`; TF of the
    tool only up to `tf_until`; `silent` cameras have a topic but no images."""
    rng = np.random.default_rng(seed)
    names = [f"panda_joint{j}" for j in range(1, 8)] + ["panda_finger_joint1"]
    with BagRecorder(path, storage=storage) as bag:
        bag.write_transforms(
            0.0,
            [(BASE, f"{c}_optical_frame", camera_pose(i)) for i, c in enumerate(cameras)],
            static=True,
        )
        for c in silent:  # the topic is announced, no image ever comes
            bag._connections[f"/{c}/image_raw"] = bag._writer.add_connection(  # noqa: SLF001
                f"/{c}/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE
            )
        for step in range(int(seconds * 100) + 1):
            t = step / 100
            if tf_until is None or t <= tf_until:
                bag.write_transforms(t, [(BASE, TOOL, ee_pose(t))])
            if step % 2 == 0:
                q = np.r_[np.full(7, np.sin(t)), 0.04 * (0.5 + 0.5 * np.cos(t))]
                bag.write_joint_state(t, names, q, np.zeros(8))
        for i in range(int(seconds * camera_rate)):
            if drop(i):
                continue
            received = (i + 0.5) / camera_rate  # the recorder's clock keeps running forward
            for c in cameras:
                t = stamp_of(i, i / camera_rate + rng.uniform(-jitter, jitter))
                image = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
                frame = f"{c}_optical_frame"
                if camera_info:
                    bag.write(
                        f"/{c}/camera_info", "sensor_msgs/msg/CameraInfo", received, _info(t, frame)
                    )
                if c in silent:
                    continue
                message = _T["sensor_msgs/msg/Image"](
                    header=_header(t, frame),
                    height=SIZE,
                    width=SIZE,
                    encoding=encoding_of(i),
                    is_bigendian=0,
                    step=SIZE * 3,
                    data=image.reshape(-1),
                )
                bag.write(f"/{c}/image_raw", "sensor_msgs/msg/Image", received, message)
    return path


def _info(t: float, frame: str) -> object:
    return _T["sensor_msgs/msg/CameraInfo"](
        header=_header(t, frame),
        height=SIZE,
        width=SIZE,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=K.reshape(9),
        r=np.eye(3).reshape(9),
        p=np.hstack([K, np.zeros((3, 1))]).reshape(12),
        binning_x=0,
        binning_y=0,
        roi=_T["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )
