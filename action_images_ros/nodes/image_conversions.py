"""sensor_msgs/Image and CompressedImage to and from numpy arrays (see core.images)."""

from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from action_images_ros.core import images
from action_images_ros.core.images import SUPPORTED_ENCODINGS, ImageConversionError

__all__ = [
    "SUPPORTED_ENCODINGS",
    "ImageConversionError",
    "compressed_to_rgb",
    "image_to_rgb",
    "rgb_to_compressed",
    "rgb_to_image",
]


def image_to_rgb(msg: Image) -> np.ndarray:
    """A sensor_msgs/Image as an (H, W, 3) uint8 RGB array (16-bit images scaled to 8 bits)."""
    return images.raw_to_rgb(
        msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data
    )


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """A sensor_msgs/CompressedImage (jpeg or png) as an (H, W, 3) uint8 RGB array."""
    return images.compressed_to_rgb(msg.format, msg.data)


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
