"""Helpers for tests that run nodes in their own processes.

`stop` fails the test (after killing the process) when a node does not exit within its
timeout of the signal: a node that ignores SIGTERM is a bug, not a slow teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def ros_parameters(**values: object) -> list[str]:
    """`--ros-args` parameter arguments: ros_parameters(a=1) -> ["-p", "a:=1"]."""
    return [item for name, value in values.items() for item in ("-p", f"{name}:={value}")]


def start_node(module: str, arguments: list[str], log_dir: Path) -> subprocess.Popen:
    """Start `python -m <module> --ros-args <arguments>`, its stdout (the ROS logs) and stderr
    in separate files under `log_dir`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    name = module.rsplit(".", 1)[-1]
    stdout = open(log_dir / f"{name}.out", "w")  # noqa: SIM115 - the process owns them
    stderr = open(log_dir / f"{name}.err", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--ros-args", *arguments],
        stdout=stdout,
        stderr=stderr,
        env={**os.environ, "RCUTILS_LOGGING_USE_STDOUT": "1"},
    )
    process.log_files = (log_dir / f"{name}.out", log_dir / f"{name}.err")
    return process


def wait_for_output(process: subprocess.Popen, text: str, timeout: float = 60.0) -> None:
    """Wait until the node's stdout contains `text`; fail with its logs if it exits or times out."""
    out, err = process.log_files
    deadline = time.monotonic() + timeout
    while text not in out.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            state = "exited" if process.poll() is not None else "timed out"
            raise AssertionError(
                f"{process.args[2]} {state} before logging {text!r}:\n"
                f"{out.read_text()[-2000:]}\n{err.read_text()[-2000:]}"
            )
        time.sleep(0.1)


def stop(process: subprocess.Popen, timeout: float = 5.0, sig: int = signal.SIGTERM) -> float:
    """Signal a node process and wait for it; returns the seconds it took. Fails (after killing
    it) when it does not exit within `timeout`."""
    if process.poll() is not None:
        return 0.0
    started = time.monotonic()
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(
            f"{process.args[:3]} did not exit within {timeout} s of {signal.Signals(sig).name}"
        ) from None
    return time.monotonic() - started
