"""Camera topics into a synchronizer: the subscriptions every camera-consuming node shares.

For each camera namespace: `<camera>/image_raw` (sensor_msgs/Image) or
`<camera>/image_raw/compressed` (sensor_msgs/CompressedImage) and `<camera>/camera_info`, with
sensor-data QoS. A frame whose image cannot be decoded, or whose size disagrees with its
camera_info, is refused with a reason given to `warn`; a frame before the camera's first
camera_info (normal at start-up) is only noted (`note`). Good frames enter the synchronizer as
(rgb, K, frame_id) stamped with their header stamp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from action_images_ros.core.synchronizer import CameraSynchronizer
from action_images_ros.nodes.conversions import duration_from_msg
from action_images_ros.nodes.image_conversions import (
    ImageConversionError,
    compressed_to_rgb,
    image_to_rgb,
)


class CameraIntake:
    """Subscribes `node` to the cameras and feeds `synchronizer` (keyed by camera namespace)."""

    def __init__(
        self,
        node: Node,
        cameras: Sequence[str],
        transport: str,
        synchronizer: CameraSynchronizer,
        warn: Callable[[str], None],
        note: Callable[[str], None] | None = None,
    ) -> None:
        if transport not in ("raw", "compressed"):
            raise ValueError(f"image_transport must be 'raw' or 'compressed', got '{transport}'")
        self.synchronizer, self.warn, self.note = synchronizer, warn, note or warn
        self.infos: dict[str, CameraInfo] = {}
        compressed = transport == "compressed"
        for camera in cameras:
            node.create_subscription(
                CompressedImage if compressed else Image,
                f"{camera}/image_raw" + ("/compressed" if compressed else ""),
                lambda msg, c=camera: self._on_image(c, msg),
                qos_profile_sensor_data,
            )
            node.create_subscription(
                CameraInfo,
                f"{camera}/camera_info",
                lambda msg, c=camera: self.infos.__setitem__(c, msg),
                qos_profile_sensor_data,
            )

    def _on_image(self, camera: str, msg: Image | CompressedImage) -> None:
        try:
            rgb = compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else image_to_rgb(msg)
        except ImageConversionError as error:
            self.warn(f"{camera}: {error}")
            return
        info = self.infos.get(camera)
        if info is None:
            self.note(f"{camera}: no camera_info yet")
            return
        if (info.width, info.height) != (rgb.shape[1], rgb.shape[0]):
            self.warn(
                f"{camera}: image is {rgb.shape[1]}x{rgb.shape[0]} but camera_info says "
                f"{info.width}x{info.height}"
            )
            return
        frame = (rgb, np.reshape(info.k, (3, 3)), msg.header.frame_id)
        self.synchronizer.add(camera, duration_from_msg(msg.header.stamp), frame)
