"""Video files through PyAV: streaming writers and a reader of whole videos.

Written on PyAV directly rather than through imageio's pyav plugin: that plugin runs a full
`gc.collect()` on every close (to break PyAV's filter-graph cycles), which costs about 0.3 s in
a process that has torch loaded, i.e. seconds per episode of six videos, written or read. Here
no filter graph is made (frames are converted by the encoder's own reformatter), so nothing
needs collecting.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class VideoWriter:
    """Encodes RGB frames (H, W, 3) uint8 into `path` with `codec` in `pixel_format`.

    `options` go to the encoder (e.g. {"preset": "ultrafast"} for libx264: episodes are written
    while labeling, where the default preset costs about 4x the rest of a step).
    """

    def __init__(
        self,
        path: str | Path,
        codec: str,
        fps: float,
        pixel_format: str,
        options: dict[str, str] | None = None,
    ) -> None:
        self._container = av.open(str(path), "w")
        self._stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        self._stream.pix_fmt = pixel_format
        if options:
            self._stream.options = dict(options)
        self._started = False

    def write(self, frame: np.ndarray) -> None:
        if not self._started:
            self._stream.height, self._stream.width = frame.shape[:2]
            self._started = True
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        self._container.mux(self._stream.encode(picture))

    def close(self) -> None:
        if self._container is None:
            return
        if self._started:
            self._container.mux(self._stream.encode(None))  # flush the encoder
        self._container.close()
        self._container = None


def read_video(path: str | Path) -> np.ndarray:
    """All frames of the first video stream of `path` as (T, H, W, 3) uint8 RGB."""
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path} holds no video frames")
    return np.stack(frames)


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """(T, H, W, 3) uint8 RGB frames as an H.264 mp4 (yuv420p: plays everywhere)."""
    height, width = frames.shape[1:3]
    frames = frames[:, : height - height % 2, : width - width % 2]  # yuv420p needs even sizes
    writer = VideoWriter(path, "libx264", fps, "yuv420p")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.close()
    return Path(path)
