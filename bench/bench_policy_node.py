"""Policy node overhead, model time excluded, with 3 cameras at 256x256.

    scripts/bootstrap.sh -- python bench/bench_policy_node.py [--iterations 200]

Measures, on the real node with a policy that answers instantly (then with the tiny model):
- per camera set: image message -> RGB array, synchronizer, observation assembly;
- per control step: plan -> IK -> safety limits -> JointTrajectory published;
and the sustained rate of camera sets the node takes in over DDS from a 30 Hz publisher.
Prints p50 and p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.policy import Observation
from action_images_ros.model.config import build_preset
from action_images_ros.model.loading import create_model
from action_images_ros.model.policy import VideoActionPolicy
from action_images_ros.nodes.conversions import camera_info_to_msg, time_to_msg
from action_images_ros.nodes.image_conversions import rgb_to_image
from action_images_ros.nodes.policy_node import PolicyNode
from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.scene import SceneConfig, default_cameras

SIZE = 256


class Instant:
    def predict(self, observation: Observation) -> ActionChunk:
        steps = 10
        positions = observation.ee_position + np.linspace(0, 0.05, steps)[:, None] * [1, 0, 0]
        quaternions = np.tile(observation.ee_quaternion, (steps, 1))
        return ActionChunk.from_poses(positions, quaternions, np.ones(steps), 0.1)


def percentiles(samples: list[float]) -> str:
    ms = 1e3 * np.asarray(samples)
    return f"p50 {np.percentile(ms, 50):7.2f} ms   p99 {np.percentile(ms, 99):7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()

    sim = PandaSim(SceneConfig(cameras=default_cameras(SIZE, SIZE)))
    rgbs = sim.render()
    calibration = Path(tempfile.mkdtemp()) / "calibration.yaml"
    sim.write_calibration(calibration)
    names, positions, velocities = sim.joint_state()
    cameras = list(rgbs)

    rclpy.init()
    node = PolicyNode(
        Instant(),
        parameter_overrides=[
            Parameter("calibration_file", value=str(calibration)),
            Parameter("cameras", value=[f"/{c}" for c in cameras]),
            Parameter("max_age", value=1e9),
        ],
    )
    node._running = False  # drive the steps by hand below  # noqa: SLF001
    set_times, control_times = [], []
    for i in range(args.iterations):
        stamp = time_to_msg(node.now())
        joint_state = JointState(name=names, position=positions.tolist())
        joint_state.header.stamp = stamp
        node._on_joint_state(joint_state)  # noqa: SLF001
        messages = []
        for camera in cameras:
            header = Header(stamp=stamp, frame_id=f"{camera}_optical_frame")
            node.intake.infos[f"/{camera}"] = camera_info_to_msg(  # noqa: SLF001
                sim.camera_intrinsics(camera), SIZE, SIZE, header
            )
            messages.append((f"/{camera}", rgb_to_image(rgbs[camera], header)))
        start = time.perf_counter()
        for camera, message in messages:
            node.intake._on_image(camera, message)  # noqa: SLF001
        observation = node._observe()  # noqa: SLF001
        set_times.append(time.perf_counter() - start)
        assert observation is not None, node.status
        node.queue.merge(Instant().predict(observation), observation.stamp, node.now() - 0.05)
        start = time.perf_counter()
        node._control()  # noqa: SLF001
        control_times.append(time.perf_counter() - start)
        if i == 0:
            set_times.clear()
            control_times.clear()
    print(f"camera set -> observation (3 x {SIZE}x{SIZE}): {percentiles(set_times)}")
    print(f"plan -> IK -> limits -> published trajectory: {percentiles(control_times)}")
    total = np.asarray(set_times) + np.asarray(control_times)
    print(f"node overhead per cycle (model excluded):     {percentiles(list(total))}")

    # End to end with the tiny model: observation -> model (policy mode) -> decode -> command.
    with tempfile.TemporaryDirectory() as directory:
        create_model(build_preset("tiny", views=len(cameras))).save(directory)
        node.policy = VideoActionPolicy.from_pretrained(directory, num_inference_steps=10)
    latencies = []
    for _ in range(max(10, args.iterations // 10)):
        start = time.perf_counter()
        chunk = node.policy.predict(observation)
        node.queue.merge(chunk, observation.stamp, observation.stamp)
        node._control()  # noqa: SLF001
        latencies.append(time.perf_counter() - start)
    print(f"end to end with the tiny model (10 steps):    {percentiles(latencies)}")

    # Sustained intake over DDS: a publisher process-local node at 30 Hz, 3 cameras.
    node._running = True  # noqa: SLF001
    publisher = Node("bench_cameras")
    image_pubs = {
        c: publisher.create_publisher(Image, f"/{c}/image_raw", qos_profile_sensor_data)
        for c in cameras
    }
    info_pubs = {
        c: publisher.create_publisher(CameraInfo, f"/{c}/camera_info", qos_profile_sensor_data)
        for c in cameras
    }
    received = []
    original = node.sync.add
    node.sync.add = lambda camera, stamp, frame: (
        received.append(stamp),
        original(camera, stamp, frame),
    )

    def publish() -> None:
        stamp = time_to_msg(node.now())
        for c in cameras:
            header = Header(stamp=stamp, frame_id=f"{c}_optical_frame")
            info_pubs[c].publish(camera_info_to_msg(sim.camera_intrinsics(c), SIZE, SIZE, header))
            image_pubs[c].publish(rgb_to_image(rgbs[c], header))

    publisher.create_timer(1 / 30, publish)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(publisher)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    time.sleep(1.0)
    received.clear()
    time.sleep(5.0)
    executor.shutdown()
    rate = len(received) / 3 / 5.0
    print(f"sustained intake over DDS: {rate:.1f} camera sets/s (publisher: 30 sets/s)")
    node._running = False  # noqa: SLF001
    node.destroy_node()
    publisher.destroy_node()
    rclpy.shutdown()
    sim.close()


if __name__ == "__main__":
    main()
