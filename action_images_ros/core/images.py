"""Camera images as bytes (the fields of sensor_msgs/Image and CompressedImage) to RGB arrays.

Pure functions with no ROS types, shared by the nodes and by offline bag reading. Written here
rather than taken from a library: ROS 2's cv_bridge is not installable from PyPI, and PyPI's
`cv-bridge` is the ROS 1 package, which breaks with ROS 2 messages and numpy 2. Only the
encodings cameras really publish are supported; anything else is rejected by name.
"""

from __future__ import annotations

import cv2
import numpy as np


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


def raw_to_rgb(
    encoding: str, height: int, width: int, step: int, is_bigendian: int, data: bytes
) -> np.ndarray:
    """The pixels of a sensor_msgs/Image as (H, W, 3) uint8 RGB (16 bits scaled to 8)."""
    if encoding not in _ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding '{encoding}' (supported: {', '.join(_ENCODINGS)})"
        )
    channels, dtype, to_rgb = _ENCODINGS[encoding]
    row_bytes = width * channels * dtype.itemsize
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than a {width}-pixel {encoding} row ({row_bytes} B)"
        )
    data = np.frombuffer(bytes(data), dtype=np.uint8)
    if data.size != step * height:
        raise ImageConversionError(
            f"data holds {data.size} bytes, expected step * height = {step * height}"
        )
    rows = data.reshape(height, step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder(">" if is_bigendian else "<"))
    pixels = pixels.reshape(height, width, channels).astype(dtype)
    if dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if to_rgb is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, to_rgb)


def compressed_to_rgb(fmt: str, data: bytes) -> np.ndarray:
    """The bytes of a sensor_msgs/CompressedImage (jpeg or png) as (H, W, 3) uint8 RGB."""
    kind = fmt.split(";")[0].strip().lower()
    if not any(name in kind for name in ("jpeg", "jpg", "png", "rgb8", "bgr8", "mono8")):
        raise ImageConversionError(f"unsupported compressed format '{fmt}' (jpeg or png)")
    bgr = cv2.imdecode(np.frombuffer(bytes(data), dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageConversionError(f"could not decode {len(data)} bytes as '{fmt}'")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
