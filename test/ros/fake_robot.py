"""A robot made of topics for fault tests of the policy node: a static Panda's joint states and
one small camera, over real DDS, stamped from the node clock, with faults switched on at will.

Every tick (50 Hz) publishes /joint_states; every fifth tick a camera frame and its
camera_info with the same stamp. The first arm joint encodes the stamp (home + 1e-4 * (stamp
mod 10)), so a test can tell which joint state an observation was paired with.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.nodes.conversions import camera_info_to_msg, time_to_msg

ARM = [f"panda_joint{i}" for i in range(1, 8)]
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
SIZE = 16
K = np.array([[20.0, 0.0, 8.0], [0.0, 20.0, 8.0], [0.0, 0.0, 1.0]])
CONTROLLER = "/fault_test/joint_trajectory"
PREVIEW = "/fault_test/preview"


def encoded_stamp(q1: float) -> float:
    return (q1 - HOME[0]) / 1e-4


def write_calibration(path: Path) -> Path:
    pose = np.eye(4)
    pose[:3, 3] = [1.5, 0.0, 0.5]
    path.write_text(
        "base_frame: panda_link0\ncameras:\n  cam:\n"
        f"    width: {SIZE}\n    height: {SIZE}\n    K: {K.tolist()}\n"
        f"    T_base_camera: {pose.tolist()}\n"
    )
    return path


class FakeRobot(Node):
    """Publishes the robot's topics and records what the policy node sends back.

    Faults (attributes, changed from the test thread): `joints_on` / `camera_on` stop a stream,
    `joint_stamp_offset` / `camera_stamp_offset` shift the next stamps, `bad_joint_state` is
    published instead of the good one while set, `camera_info_on` withholds camera_info,
    `arm_velocity` is the velocity reported.
    """

    def __init__(self) -> None:
        super().__init__("fake_robot")
        self.joints_on = self.camera_on = self.camera_info_on = True
        self.joint_stamp_offset = self.camera_stamp_offset = 0.0
        self.bad_joint_state: JointState | None = None
        self.arm_velocity = np.zeros(7)  # reported in /joint_states (the arm does not move)
        self.commands: list[JointTrajectory] = []
        self.previews: list[JointTrajectory] = []
        self.diagnostics: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._tick = 0
        self._joints = self.create_publisher(JointState, "/joint_states", 50)
        self._image = self.create_publisher(Image, "/cam/image_raw", qos_profile_sensor_data)
        self._info = self.create_publisher(CameraInfo, "/cam/camera_info", qos_profile_sensor_data)
        self.create_subscription(JointTrajectory, CONTROLLER, self._on_command, 10)
        self.create_subscription(JointTrajectory, PREVIEW, self._on_preview, 10)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.create_timer(0.02, self._publish)

    def _on_command(self, msg: JointTrajectory) -> None:
        with self._lock:
            self.commands.append(msg)

    def _on_preview(self, msg: JointTrajectory) -> None:
        with self._lock:
            self.previews.append(msg)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self._lock:
            self.diagnostics.extend(
                (ord(s.level), s.message)
                for s in msg.status
                if s.name == "action_images_ros/policy"
            )

    def _publish(self) -> None:
        now = self.get_clock().now().nanoseconds * 1e-9
        self._tick += 1
        if self.joints_on:
            stamp = now + self.joint_stamp_offset
            if self.bad_joint_state is not None:
                msg = self.bad_joint_state
                msg.header = Header(stamp=time_to_msg(stamp))
            else:
                q = HOME.copy()
                q[0] += 1e-4 * math.fmod(stamp, 10.0)
                msg = JointState(
                    header=Header(stamp=time_to_msg(stamp)),
                    name=[*ARM, "panda_finger_joint1"],
                    position=[*q.tolist(), 0.04],
                    velocity=[*self.arm_velocity.tolist(), 0.0],
                )
            self._joints.publish(msg)
        if self.camera_on and self._tick % 5 == 0:
            stamp = now + self.camera_stamp_offset
            header = Header(stamp=time_to_msg(stamp), frame_id="cam_optical_frame")
            if self.camera_info_on:
                self._info.publish(camera_info_to_msg(K, SIZE, SIZE, header))
            self._image.publish(
                Image(
                    header=header,
                    height=SIZE,
                    width=SIZE,
                    encoding="rgb8",
                    step=SIZE * 3,
                    data=bytes(SIZE * SIZE * 3),
                )
            )

    def taken(self) -> tuple[list[JointTrajectory], list[JointTrajectory]]:
        with self._lock:
            return list(self.commands), list(self.previews)
