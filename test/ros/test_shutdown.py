"""Every node exits within 2 s of SIGTERM or SIGINT, with nothing on stderr (no traceback),
while it is working: the sim stepping and rendering, the policy inferring, the labeling node
drawing."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import rclpy
from node_processes import ros_parameters, start_node, stop, wait_for_output
from rclpy.node import Node
from sensor_msgs.msg import Image

from action_images_ros.msg import ActionChunk as ActionChunkMsg
from action_images_ros.sim.panda_sim import render_available
from action_images_ros.sim.scene import URDF_PATH

can_render, why_not = render_available()
pytestmark = pytest.mark.skipif(not can_render, reason=why_not)
SIGNALS = [signal.SIGTERM, signal.SIGINT]
EXIT_WITHIN = 2.0


def _assert_clean_exit(process, sig: int) -> None:
    stop(process, timeout=EXIT_WITHIN, sig=sig)  # fails a node that takes longer
    out, err = process.log_files
    assert err.read_text() == "", f"stderr after {signal.Signals(sig).name}: {err.read_text()}"
    assert process.returncode == 0, f"exit status {process.returncode} ({out.read_text()[-1500:]})"


def test_a_second_ctrl_c_during_teardown_leaves_no_traceback(tmp_path: Path) -> None:
    """A terminal's Ctrl-C under `ros2 launch` reaches a node twice: SIGINT to the process
    group, then launch's own SIGINT while the node tears down."""
    process = _start_sim(tmp_path)
    wait_for_output(process, "ready")
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    time.sleep(0.03)  # the second one arrives while the first is being handled
    _assert_clean_exit(process, signal.SIGINT)


def _start_sim(tmp_path: Path):
    calibration = tmp_path / "calibration.yaml"
    arguments = ros_parameters(image_width=48, image_height=48, calibration_file=calibration)
    return start_node("action_images_ros.nodes.sim_node", arguments, tmp_path)


def _wait_for_message(msg_type, topic: str, timeout: float = 60.0) -> None:
    node = Node("shutdown_probe")
    received = []
    node.create_subscription(msg_type, topic, received.append, 10)
    deadline = time.monotonic() + timeout
    try:
        while not received and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
    assert received, f"nothing on {topic} in {timeout} s"


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_sim_node_exits_promptly(tmp_path: Path, sig: int) -> None:
    process = _start_sim(tmp_path)
    wait_for_output(process, "ready")
    time.sleep(1.0)  # stepping and rendering
    _assert_clean_exit(process, sig)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from action_images_ros.model.config import build_preset
    from action_images_ros.model.loading import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model"
    create_model(build_preset("tiny", views=3), tasks=["", "reach"]).save(path)
    return path


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_policy_node_exits_promptly_while_inferring(
    running_sim: Path, tiny_checkpoint: Path, tmp_path: Path, sig: int
) -> None:
    process = start_node(
        "action_images_ros.nodes.policy_node",
        ros_parameters(
            use_sim_time="true",
            checkpoint=tiny_checkpoint,
            num_inference_steps=2,
            urdf=URDF_PATH,
            calibration_file=running_sim,
        ),
        tmp_path,
    )
    wait_for_output(process, "ready")
    _wait_for_message(ActionChunkMsg, "/policy/action_chunk")
    _assert_clean_exit(process, sig)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_labeling_node_exits_promptly_while_drawing(
    running_sim: Path, tmp_path: Path, sig: int
) -> None:
    process = start_node(
        "action_images_ros.nodes.labeling_node",
        ros_parameters(use_sim_time="true", calibration_file=running_sim),
        tmp_path,
    )
    wait_for_output(process, "ready")  # its robot model came from the sim's /robot_description
    _wait_for_message(Image, "/labeling/front/overlay")
    _assert_clean_exit(process, sig)
