"""How every node of the package runs: parameters from one table, spinning, a clean exit.

`run_node` exits within moments of SIGINT or SIGTERM without a traceback: its own signal
handler ends the spinning (rclpy's would shut the context down first, under the threads'
feet: a thread logging then printed "publisher's context is invalid"), the node's
`destroy_node` stops and joins its threads while the context is still valid, and only then is
the context shut down. The process then ends at once (os._exit after
flushing stdout and stderr): the interpreter's own teardown of the loaded modules (torch,
MuJoCo, rclpy: some 350,000 objects) took 3-5 s on a loaded machine, which made a node look as
if it ignored SIGTERM. A node that cannot start (a bad parameter, no robot model) logs why and
the process exits with status 1.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.signals import SignalHandlerOptions

from action_images_ros.nodes.parameters import Setting


def declare_parameters(node: Node, table: Mapping[str, Setting]) -> dict[str, object]:
    """Declare every parameter of `table` with its descriptor; returns name -> value.

    Raises ValueError naming the parameter when a value is outside its range or choices.
    """
    values = {}
    for name, setting in table.items():
        descriptor = ParameterDescriptor(
            description=setting.description, read_only=setting.read_only
        )
        if setting.choices:
            descriptor.additional_constraints = "one of: " + ", ".join(setting.choices)
        if setting.bounds is not None:
            low, high = setting.bounds
            if isinstance(setting.default, bool):
                pass
            elif isinstance(setting.default, int):
                descriptor.integer_range = [
                    IntegerRange(from_value=int(low), to_value=int(high), step=1)
                ]
            else:
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
                ]
        try:
            value = node.declare_parameter(name, setting.default, descriptor).value
        except Exception as error:  # rclpy's exceptions for ranges and types name no remedy
            raise ValueError(f"parameter '{name}': {error}") from error
        if setting.choices and value not in setting.choices:
            raise ValueError(f"parameter '{name}' must be one of {setting.choices}, got {value!r}")
        values[name] = value
    return values


class GuardedPublishing:
    """Publishing that stops for good at shutdown: `publish` checks, under one lock, that the
    node is running and its context valid, so no thread publishes after `stop()` (which
    destroy_node calls before the publishers are destroyed)."""

    def __init__(self, node: Node) -> None:
        self._node, self._lock, self._running = node, threading.Lock(), True

    @property
    def running(self) -> bool:
        return self._running and self._node.context.ok()

    def publish(self, publisher: Publisher, msg: object) -> bool:
        with self._lock:
            if not self.running:
                return False
            try:
                publisher.publish(msg)
            except Exception:  # the context was shut down by a signal between check and call
                if self._node.context.ok():
                    raise
                return False
            return True

    def stop(self) -> None:
        with self._lock:
            self._running = False


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> None:
    """Create the node and spin it in a SingleThreadedExecutor until shutdown, then exit.

    Long work (stepping the simulation, model inference) runs in a thread the node owns, so the
    executor's one thread keeps camera, TF and timer callbacks flowing. rclpy's
    MultiThreadedExecutor is avoided: its polling costs a CPU core and starves those threads.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    node: Node | None = None
    failed = False
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        # Waking every 0.1 s bounds the exit time after a signal.
        while not stopping.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ValueError as error:  # a configuration the node refuses: say why, no traceback
        if rclpy.ok():
            rclpy.logging.get_logger("action_images_ros").fatal(f"cannot start: {error}")
            failed = True
    except Exception:
        if rclpy.ok():  # a real failure, not the race of a signal-triggered shutdown
            raise
    finally:
        # Teardown runs once: a second Ctrl-C (a terminal's SIGINT to the process group and
        # then `ros2 launch`'s own) must not interrupt it with a KeyboardInterrupt traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    # Reached only on a clean stop or a refused start (an unexpected error propagated above,
    # with its traceback and the interpreter's normal exit).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if failed else 0)
