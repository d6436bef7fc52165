"""Parameters shared by the nodes that watch the cameras and the arm (defaults: the sim Panda).

Each node declares these plus its own; config/*.yaml lists them all, per node.
"""

from __future__ import annotations

CAMERA_PARAMETERS: dict[str, object] = {
    "cameras": ["/front", "/left", "/right"],
    "image_transport": "raw",
    "slop": 0.02,
    "base_frame": "panda_link0",
    "extrinsics_source": "calibration",
    "calibration_file": "/tmp/action_images_ros/sim_calibration.yaml",
}

ARM_PARAMETERS: dict[str, object] = {
    "urdf": "",
    "base_link": "panda_link0",
    "tip_link": "panda_hand_tcp",
    "joint_names": [f"panda_joint{i}" for i in range(1, 8)],
    "gripper_joint": "panda_finger_joint1",
    "gripper_open_position": 0.04,
}
