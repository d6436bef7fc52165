"""Helpers for tests that run nodes in their own processes."""

from __future__ import annotations

import subprocess
import warnings


def stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM a node process and wait for it; kill it (with a warning) if it hangs, so one slow
    teardown cannot fail the tests that used it."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        warnings.warn(f"{process.args[:3]} ignored SIGTERM for {timeout} s; killed", stacklevel=2)
        process.kill()
        process.wait()
