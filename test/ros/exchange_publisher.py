"""Publisher process for test_message_exchange: publishes the sample messages until killed."""

from __future__ import annotations

import rclpy
from rclpy.node import Node
from sample_messages import sample_action_chunk_msg, sample_joint_trajectory_msg
from trajectory_msgs.msg import JointTrajectory

from action_images_ros.msg import ActionChunk


def main() -> None:
    rclpy.init()
    node = Node("exchange_publisher")
    trajectories = node.create_publisher(JointTrajectory, "exchange/joint_trajectory", 10)
    chunks = node.create_publisher(ActionChunk, "exchange/action_chunk", 10)

    def publish() -> None:
        trajectories.publish(sample_joint_trajectory_msg())
        chunks.publish(sample_action_chunk_msg(node.get_clock().now().to_msg()))

    node.create_timer(0.05, publish)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
