"""sensor_msgs/Image and CompressedImage to and from numpy arrays.

Written here rather than taken from a library: ROS 2's cv_bridge is not installable from PyPI,
and PyPI's `cv-bridge` is the ROS 1 package, which breaks with ROS 2 messages and numpy 2.
Only the encodings cameras really publish are supported; anything else is rejected by name.
"""

from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header


class ImageConversionError(ValueError):
    """An image message that cannot be converted (encoding, size, data length)."""


# encoding -> (channels, dtype, conversion of the channels to RGB or None)
_ENCODINGS: dict[str, tuple[int, np.dtype, int | None]] = {
    "rgb8": (3, np.dtype(np.uint8), None),
    "bgr8": (3, np.dtype(np.uint8), cv2.COLOR_BGR2RGB),
    "rgba8": (4, np.dtype(np.uint8), cv2.COLOR_RGBA2RGB),
    "bgra8": (4, np.dtype(np.uint8), cv2.COLOR_BGRA2RGB),
    "mono8": (1, np.dtype(np.uint8), cv2.COLOR_GRAY2RGB),
    "8UC3": (3, np.dtype(np.uint8), None),
    "mono16": (1, np.dtype(np.uint16), cv2.COLOR_GRAY2RGB),
    "16UC1": (1, np.dtype(np.uint16), cv2.COLOR_GRAY2RGB),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)


def image_to_rgb(msg: Image) -> np.ndarray:
    """A sensor_msgs/Image as an (H, W, 3) uint8 RGB array (16-bit images scaled to 8 bits)."""
    if msg.encoding not in _ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding '{msg.encoding}' (supported: {', '.join(_ENCODINGS)})"
        )
    channels, dtype, to_rgb = _ENCODINGS[msg.encoding]
    height, width = msg.height, msg.width
    row_bytes = width * channels * dtype.itemsize
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    if msg.step < row_bytes:
        raise ImageConversionError(
            f"step {msg.step} is smaller than a {width}-pixel {msg.encoding} row ({row_bytes} B)"
        )
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size != msg.step * height:
        raise ImageConversionError(
            f"data holds {data.size} bytes, expected step * height = {msg.step * height}"
        )
    rows = data.reshape(height, msg.step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder(">" if msg.is_bigendian else "<"))
    pixels = pixels.reshape(height, width, channels).astype(dtype)
    if dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if to_rgb is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, to_rgb)


def rgb_to_image(rgb: np.ndarray, header: Header | None = None) -> Image:
    """An (H, W, 3) uint8 RGB array as a sensor_msgs/Image (rgb8)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageConversionError(
            f"expected an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}"
        )
    height, width, _ = rgb.shape
    return Image(
        header=header or Header(),
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=width * 3,
        data=np.ascontiguousarray(rgb).tobytes(),
    )


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """A sensor_msgs/CompressedImage (jpeg or png) as an (H, W, 3) uint8 RGB array."""
    kind = msg.format.split(";")[0].strip().lower()
    if not any(name in kind for name in ("jpeg", "jpg", "png", "rgb8", "bgr8", "mono8")):
        raise ImageConversionError(f"unsupported compressed format '{msg.format}' (jpeg or png)")
    bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageConversionError(f"could not decode {len(msg.data)} bytes as '{msg.format}'")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def rgb_to_compressed(
    rgb: np.ndarray, header: Header | None = None, fmt: str = "jpeg"
) -> CompressedImage:
    """An (H, W, 3) uint8 RGB array as a sensor_msgs/CompressedImage ('jpeg' or 'png')."""
    if fmt not in ("jpeg", "png"):
        raise ImageConversionError(f"unsupported compressed format '{fmt}' (jpeg or png)")
    ok, encoded = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", rgb[..., ::-1])
    if not ok:
        raise ImageConversionError(f"could not encode the image as {fmt}")
    return CompressedImage(header=header or Header(), format=fmt, data=encoded.tobytes())
