"""The labeling node: action images over the camera images, and the 3D path as markers.

For each synchronized camera set (live, or under `ros2 bag play` with use_sim_time), it draws
the end-effector path around that instant into every view: the robot's recent path from
/joint_states through forward kinematics (`path_source: joint_states`), or the policy's
predicted chunk from `<policy_chunk_topic>` (`path_source: policy`). It publishes per camera
`~/<camera>/overlay` (sensor_msgs/Image, rgb8: the action image of the current step blended
into the frame, the path, orientation ticks and gripper changes), `~/action_images`
(action_images_ros/ActionImageSet: the raw action images with the camera models used) and
`~/path_markers` (visualization_msgs/MarkerArray: the path as a line strip and the current
pose as a sphere coloured by the gripper: green open, red closed). The robot model comes from
`robot_description`, `urdf` or the latched /robot_description (see nodes.robot_model); joint
states that are malformed, non-finite or stamped in the future are refused with a reason.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np
import torch
from geometry_msgs.msg import Point
from rclpy.node import Node
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from action_images_ros.core.action_images import ActionImageConfig, encode
from action_images_ros.core.cameras import CameraRig
from action_images_ros.core.kinematics import SerialChain
from action_images_ros.core.overlays import draw_overlays
from action_images_ros.core.synchronizer import CameraSynchronizer
from action_images_ros.msg import ActionChunk as ActionChunkMsg
from action_images_ros.msg import ActionImageSet
from action_images_ros.nodes.camera_intake import CameraIntake
from action_images_ros.nodes.conversions import (
    action_chunk_from_msg,
    camera_info_to_msg,
    duration_from_msg,
    time_to_msg,
    transform_to_msg,
)
from action_images_ros.nodes.extrinsics import make_extrinsics_source
from action_images_ros.nodes.image_conversions import rgb_to_image
from action_images_ros.nodes.joint_state_intake import JointStateIntake
from action_images_ros.nodes.parameters import LABELING_PARAMETERS
from action_images_ros.nodes.robot_model import robot_description
from action_images_ros.nodes.runtime import GuardedPublishing, declare_parameters, run_node


class LabelingNode(Node):
    """Draws action images over synchronized camera sets (see the module docstring)."""

    def __init__(self, **node_options: object) -> None:
        super().__init__("labeling", **node_options)
        p = self.p = declare_parameters(self, LABELING_PARAMETERS)
        self.cameras = list(p["cameras"])
        self.config = ActionImageConfig.paper()
        self.chain = SerialChain.from_urdf(
            robot_description(self, p), p["base_link"], p["tip_link"]
        )
        self.sync = CameraSynchronizer(
            self.cameras, p["slop"], p["max_age"], future_tolerance=p["future_tolerance"]
        )
        self.joint_states = JointStateIntake(
            p["joint_names"],
            p["gripper_joint"],
            p["gripper_open_position"],
            p["future_tolerance"],
            history=p["history"],
        )
        self._guard = GuardedPublishing(self)
        self.intake = CameraIntake(
            self, self.cameras, p["image_transport"], self.sync, self._warn, self._note
        )
        self.extrinsics = make_extrinsics_source(
            self, p["extrinsics_source"], p["calibration_file"], p["base_frame"]
        )
        self._path: deque[tuple[float, np.ndarray, np.ndarray, float]] = deque(maxlen=2000)
        self._chunk: tuple[float, object] | None = None
        self._lock = threading.Lock()
        self._last_stamp: float | None = None
        self.status = "waiting for camera sets"
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, 50)
        self.create_subscription(ActionChunkMsg, p["policy_chunk_topic"], self._on_chunk, 10)
        self._overlays = {
            camera: self.create_publisher(
                Image,
                f"~/{camera.strip('/').replace('/', '_')}/overlay",
                10,
            )
            for camera in self.cameras
        }
        self._action_images = self.create_publisher(ActionImageSet, "~/action_images", 10)
        self._markers = self.create_publisher(MarkerArray, "~/path_markers", 10)
        self._timer = self.create_timer(1.0 / p["publish_rate"], self._label_latest)
        self.get_logger().info(f"ready: labeling {self.cameras} ({p['path_source']})")

    def _warn(self, message: str) -> None:
        self.status = message
        self.get_logger().warning(message, throttle_duration_sec=2.0)

    def _note(self, message: str) -> None:
        self.status = message

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_joint_state(self, msg: JointState) -> None:
        now = self.now()
        if now == 0.0:  # use_sim_time and no /clock yet: stamps cannot be judged
            return
        refused = self.joint_states.add(msg, now)
        if refused:
            self._warn(f"refused a joint state: {refused}")
            return
        state = self.joint_states.latest()
        pose = self.chain.fk(state.positions)
        with self._lock:
            self._path.append((state.stamp, pose[:3, 3], pose[:3, :3], state.gripper))

    def _on_chunk(self, msg: ActionChunkMsg) -> None:
        try:
            chunk = action_chunk_from_msg(msg)
        except ValueError as error:
            self._warn(f"ignored a malformed action chunk: {error}")
            return
        self._chunk = (duration_from_msg(msg.header.stamp), chunk)

    def _actions_around(
        self, stamp: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """Positions, rotations and gripper of the path to draw, and the index of `stamp`."""
        if self.p["path_source"] == "policy":
            if self._chunk is None:
                self.status = "no action chunk from the policy yet"
                return None
            _, chunk = self._chunk
            rotations = Rotation.from_quat(chunk.quaternions).as_matrix()
            keep = chunk.valid
            return chunk.positions[keep], rotations[keep], chunk.gripper_openness[keep], 0
        with self._lock:
            path = [entry for entry in self._path if stamp - self.p["history"] <= entry[0] <= stamp]
        if not path:
            self.status = "no joint states around the camera set"
            return None
        positions = np.stack([entry[1] for entry in path])
        rotations = np.stack([entry[2] for entry in path])
        gripper = np.array([entry[3] for entry in path])
        return positions, rotations, gripper, len(path) - 1

    def _label_latest(self) -> None:
        now = self.now()
        if now == 0.0:
            self.status = "waiting for the clock"
            return
        synced = self.sync.latest(now, newer_than=self._last_stamp)
        if synced is None:
            self.status = self.sync.last_failure
            return
        actions = self._actions_around(synced.stamp)
        if actions is None:
            return
        frames, intrinsics, poses, frame_ids = [], [], [], []
        for rgb, k, frame_id in synced.frames:
            pose = self.extrinsics.lookup(frame_id, synced.stamp)
            if pose is None:
                self._warn(self.extrinsics.why_not(frame_id))
                return
            frames.append(rgb)
            intrinsics.append(k)
            poses.append(pose)
            frame_ids.append(frame_id)
        sizes = {frame.shape[:2] for frame in frames}
        if len(sizes) != 1:
            self._warn(f"cameras differ in size {sorted(sizes)}; one size per rig is supported")
            return
        self._last_stamp = synced.stamp
        height, width = frames[0].shape[:2]
        rig = CameraRig.from_arrays(intrinsics, poses, width, height, dtype=torch.float32)
        positions, rotations, gripper, current = actions
        overlays = draw_overlays(np.stack(frames), positions, rotations, gripper, rig, current)
        images = (
            encode(
                torch.tensor(positions[current : current + 1]),
                torch.tensor(rotations[current : current + 1]),
                torch.tensor(gripper[current : current + 1]),
                rig,
                self.config,
            )
            .to_uint8()[0]
            .numpy()
        )
        stamp = time_to_msg(synced.stamp)
        image_set = ActionImageSet(header=Header(stamp=stamp, frame_id=self.p["base_frame"]))
        for camera, overlay, image, k, pose, frame_id in zip(
            self.cameras, overlays, images, intrinsics, poses, frame_ids, strict=True
        ):
            header = Header(stamp=stamp, frame_id=frame_id)
            self._guard.publish(self._overlays[camera], rgb_to_image(overlay, header))
            image_set.images.append(rgb_to_image(image, header))
            image_set.camera_infos.append(camera_info_to_msg(k, width, height, header))
            image_set.camera_poses.append(
                transform_to_msg(pose, self.p["base_frame"], frame_id, stamp)
            )
        self._guard.publish(self._action_images, image_set)
        self._guard.publish(self._markers, self._path_markers(positions, gripper, current, stamp))
        self.status = f"labeled the set at {synced.stamp:.3f} s"

    def _path_markers(
        self, positions: np.ndarray, gripper: np.ndarray, current: int, stamp: object
    ) -> MarkerArray:
        header = Header(stamp=stamp, frame_id=self.p["base_frame"])
        line = Marker(header=header, ns="path", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
        line.scale.x = 0.005
        line.color = ColorRGBA(r=1.0, g=0.85, b=0.0, a=1.0)
        line.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in positions]
        line.pose.orientation.w = 1.0
        tip = Marker(header=header, ns="path", id=1, type=Marker.SPHERE, action=Marker.ADD)
        x, y, z = (float(v) for v in positions[current])
        tip.pose.position = Point(x=x, y=y, z=z)
        tip.pose.orientation.w = 1.0
        tip.scale.x = tip.scale.y = tip.scale.z = 0.03
        is_open = gripper[current] > 0.5
        tip.color = ColorRGBA(r=0.2 if is_open else 0.9, g=0.85 if is_open else 0.2, b=0.2, a=1.0)
        return MarkerArray(markers=[line, tip])

    def destroy_node(self) -> None:
        self._guard.stop()
        self._timer.cancel()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(LabelingNode, args)


if __name__ == "__main__":
    main()
