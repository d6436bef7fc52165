"""Where a node gets its robot model (URDF) from, in this order, and never silently:

1. the `robot_description` parameter (URDF text),
2. the `urdf` parameter (a path),
3. the latched /robot_description topic (std_msgs/String, transient-local, as
   robot_state_publisher and the sim node serve it), waited for `robot_description_timeout` s.

With none of them the node refuses to start (ValueError): guessing a robot (say the packaged
Panda) would give wrong kinematics on any other arm.
"""

from __future__ import annotations

import time
from pathlib import Path

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
from std_msgs.msg import String

ROBOT_DESCRIPTION_TOPIC = "/robot_description"
LATCHED = QoSProfile(
    depth=1,
    durability=QoSDurabilityPolicy.TRANSIENT_LOCAL,
    reliability=QoSReliabilityPolicy.RELIABLE,
)


def robot_description(node: Node, parameters: dict[str, object]) -> str:
    """The URDF text of the robot (see the module docstring); ValueError when there is none."""
    if parameters["robot_description"]:
        return str(parameters["robot_description"])
    if parameters["urdf"]:
        path = Path(str(parameters["urdf"]))
        if not path.is_file():
            raise ValueError(f"parameter 'urdf': no file {path}")
        return path.read_text()
    timeout = float(parameters["robot_description_timeout"])
    node.get_logger().info(
        f"neither robot_description nor urdf is set: waiting up to {timeout:.0f} s for the "
        f"latched {ROBOT_DESCRIPTION_TOPIC} (robot_state_publisher or the sim publish it)"
    )
    received: list[str] = []
    subscription = node.create_subscription(
        String, ROBOT_DESCRIPTION_TOPIC, lambda msg: received.append(msg.data), LATCHED
    )
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + timeout
        while not received and time.monotonic() < deadline and node.context.ok():
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.remove_node(node)
        executor.shutdown()
        node.destroy_subscription(subscription)
    if not received:
        raise ValueError(
            f"no robot model: set robot_description (URDF text) or urdf (a path), or publish "
            f"the URDF on {ROBOT_DESCRIPTION_TOPIC} (transient-local); none came in {timeout:.0f} s"
        )
    node.get_logger().info(f"robot model from {ROBOT_DESCRIPTION_TOPIC}")
    return received[-1]
