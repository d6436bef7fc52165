"""The node-process helper fails a node that ignores SIGTERM instead of waiting it out."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from node_processes import stop

IGNORES_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_stop_fails_a_process_that_ignores_sigterm_and_kills_it() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "ready"
    with pytest.raises(AssertionError, match="did not exit within 0.5 s of SIGTERM"):
        stop(process, timeout=0.5)
    assert process.poll() is not None, "the process was left running"


def test_stop_returns_for_a_process_that_exits_on_sigterm() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop(process, timeout=10.0)
    assert process.returncode == -signal.SIGTERM
