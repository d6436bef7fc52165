"""How every node of the package runs: init, spin, and a clean exit on Ctrl-C or SIGTERM."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> None:
    """Create the node and spin it in a SingleThreadedExecutor until shutdown.

    Long work (stepping the simulation, model inference) runs in a thread the node owns, so the
    executor's one thread keeps camera, TF and timer callbacks flowing. rclpy's
    MultiThreadedExecutor is avoided: its polling costs a CPU core and starves those threads.
    """
    rclpy.init(args=args)
    node = make_node()
    executor = SingleThreadedExecutor()
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
