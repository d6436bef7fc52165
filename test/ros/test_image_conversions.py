from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image

from action_images_ros.nodes.image_conversions import (
    ImageConversionError,
    compressed_to_rgb,
    image_to_rgb,
    rgb_to_compressed,
    rgb_to_image,
)


def _rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 17), st.integers(1, 17), st.integers(0, 2**31))
def test_rgb8_round_trip(height: int, width: int, seed: int) -> None:
    rgb = _rgb(height, width, seed)
    np.testing.assert_array_equal(image_to_rgb(rgb_to_image(rgb)), rgb)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 8), st.booleans())
def test_padded_rows_and_byte_order(height: int, width: int, padding: int, big: bool) -> None:
    """Row padding (step > width * bytes) and big-endian 16-bit data decode correctly."""
    gray = (
        np.random.default_rng(height * width).integers(0, 65536, (height, width)).astype(np.uint16)
    )
    row = gray.astype(">u2" if big else "<u2").tobytes()
    rows = [row[i * width * 2 : (i + 1) * width * 2] + bytes(padding) for i in range(height)]
    msg = Image(
        height=height,
        width=width,
        encoding="mono16",
        is_bigendian=int(big),
        step=width * 2 + padding,
        data=b"".join(rows),
    )
    expected = np.repeat((gray >> 8).astype(np.uint8)[..., None], 3, axis=2)
    np.testing.assert_array_equal(image_to_rgb(msg), expected)


@pytest.mark.parametrize(
    ("encoding", "convert"),
    [("bgr8", cv2.COLOR_RGB2BGR), ("rgba8", cv2.COLOR_RGB2RGBA), ("bgra8", cv2.COLOR_RGB2BGRA)],
)
def test_color_encodings_come_back_as_rgb(encoding: str, convert: int) -> None:
    rgb = _rgb(5, 7)
    pixels = cv2.cvtColor(rgb, convert)
    msg = Image(
        height=5,
        width=7,
        encoding=encoding,
        step=7 * pixels.shape[2],
        data=pixels.tobytes(),
    )
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_png_is_lossless_and_jpeg_is_close() -> None:
    rgb = cv2.GaussianBlur(_rgb(32, 48), (7, 7), 3)
    np.testing.assert_array_equal(compressed_to_rgb(rgb_to_compressed(rgb, fmt="png")), rgb)
    jpeg = compressed_to_rgb(rgb_to_compressed(rgb, fmt="jpeg"))
    assert jpeg.shape == rgb.shape
    assert np.abs(jpeg.astype(int) - rgb).mean() < 6


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (Image(height=2, width=2, encoding="yuv422", step=4, data=bytes(8)), "unsupported"),
        (Image(height=2, width=2, encoding="rgb8", step=5, data=bytes(10)), "step 5"),
        (Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(11)), "data holds 11"),
        (Image(height=0, width=2, encoding="rgb8", step=6, data=b""), "empty image"),
    ],
)
def test_bad_images_are_rejected_naming_the_problem(msg: Image, message: str) -> None:
    with pytest.raises(ImageConversionError, match=message):
        image_to_rgb(msg)


def test_bad_compressed_images_are_rejected() -> None:
    with pytest.raises(ImageConversionError, match="could not decode"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"not a jpeg"))
    with pytest.raises(ImageConversionError, match="unsupported compressed format"):
        compressed_to_rgb(CompressedImage(format="theora", data=b"\x00"))
