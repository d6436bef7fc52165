"""How every node of the package runs: init, spin, and a clean exit on Ctrl-C or SIGTERM."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> None:
    """Create the node and spin it in a MultiThreadedExecutor until shutdown.

    The multi-threaded executor lets a node put long work (inference) in its own callback group
    while camera, TF and timer callbacks keep flowing.
    """
    rclpy.init(args=args)
    node = make_node()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():  # a real failure, not the race of a signal-triggered shutdown
            raise
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
