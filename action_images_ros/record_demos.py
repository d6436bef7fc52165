"""Record scripted demonstrations in the sim to rosbag2, as a real robot's bag would look.

    action-images record-demos --tasks reach pick --seeds 10 --out demos/

Each episode becomes one bag (MCAP by default) holding every camera's Image and CameraInfo,
/joint_states, /tf (base -> tcp) and /tf_static (base -> camera optical frames), and the
commanded arm trajectories and gripper commands; `summary.json` lists each episode's outcome.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from action_images_ros.core.robot_assets import BASE_FRAME, TCP_FRAME, optical_frame
from action_images_ros.data.bag_recorder import BagRecorder
from action_images_ros.sim.experts import EpisodeResult, run_episode
from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.scene import SceneConfig, default_cameras
from action_images_ros.sim.tasks import make_task
from action_images_ros.sim.trajectory_controller import Acceptance, TrajectoryGoal


class RecordingSim:
    """A PandaSim that also records what is commanded to it and what it would publish."""

    def __init__(
        self, sim: PandaSim, recorder: BagRecorder, render_period: float, compression: str = ""
    ) -> None:
        self._sim, self._recorder, self._render_period = sim, recorder, render_period
        self._compression = compression
        self._next_render = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sim, name)

    def send_trajectory(self, trajectory: TrajectoryGoal) -> Acceptance:
        self._recorder.write_joint_trajectory(
            self._sim.time,
            list(trajectory.joint_names),
            [p.time_from_start for p in trajectory.points],
            [p.positions for p in trajectory.points],
            [p.velocities for p in trajectory.points],
        )
        return self._sim.send_trajectory(trajectory)

    def set_gripper(self, openness: float) -> None:
        self._recorder.write_gripper_command(self._sim.time, openness)
        self._sim.set_gripper(openness)

    def publish_state(self) -> None:
        """Record joint states and the tcp transform, and the cameras when a frame is due."""
        sim, now = self._sim, self._sim.time
        names, positions, velocities = sim.joint_state()
        self._recorder.write_joint_state(now, names, positions, velocities)
        self._recorder.write_transforms(now, [(BASE_FRAME, TCP_FRAME, sim.ee_transform())])
        if now + 1e-9 >= self._next_render:
            for camera, rgb in sim.render().items():
                k = sim.camera_intrinsics(camera)
                self._recorder.write_camera(
                    now, camera, rgb, k, optical_frame(camera), self._compression
                )
            self._next_render = now + self._render_period

    def publish_static(self) -> None:
        """Record the camera extrinsics on /tf_static."""
        transforms = [
            (BASE_FRAME, optical_frame(c.name), self._sim.camera_extrinsics(c.name))
            for c in self._sim.cameras
        ]
        self._recorder.write_transforms(self._sim.time, transforms, static=True)


def record_episode(
    sim: PandaSim,
    task_name: str,
    seed: int,
    bag_path: Path,
    render_period: float = 0.1,
    storage: str = "mcap",
    compression: str = "",
    random_start_pose: bool = False,
    miss_first_grasp: bool = False,
) -> EpisodeResult:
    """Run the scripted expert of `task_name` from `seed` and record it to `bag_path`
    (images as CompressedImage with `compression` 'jpeg' or 'png'); with `random_start_pose`
    the arm starts at a random pose over the workspace (`experts.random_start`); with
    `miss_first_grasp` it then starts closed beside the cube (`experts.missed_grasp`), so the
    expert shows how to recover from a missed grasp."""
    with BagRecorder(bag_path, storage=storage) as recorder:
        recording = RecordingSim(sim, recorder, render_period, compression)

        def record_start() -> None:
            recording.publish_static()
            recording.publish_state()

        return run_episode(
            sim,
            make_task(task_name),
            seed,
            lambda _: recording.publish_state(),
            random_start_pose,
            miss_first_grasp,
            arm=recording,
            on_start=record_start,
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["reach", "pick", "place"])
    parser.add_argument("--seeds", type=int, default=10, help="episodes per task (seeds 0..N-1)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="directory for the bags")
    parser.add_argument("--size", type=int, default=128, help="camera image width and height")
    parser.add_argument("--render-period", type=float, default=0.1, help="seconds per frame")
    parser.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    parser.add_argument(
        "--compression",
        choices=["", "jpeg", "png"],
        default="",
        help="record CompressedImage (<camera>/image_raw/compressed) instead of Image",
    )
    parser.add_argument(
        "--random-start",
        action="store_true",
        help="start every episode with the arm at a random pose over the workspace",
    )
    parser.add_argument(
        "--miss-first-grasp",
        action="store_true",
        help="start closed on nothing beside the cube (a missed grasp to recover from)",
    )
    args = parser.parse_args(argv)
    if args.miss_first_grasp and "reach" in args.tasks:
        parser.error("--miss-first-grasp needs tasks with a grasp (pick, place), not reach")

    sim = PandaSim(SceneConfig(cameras=default_cameras(args.size, args.size)))
    episodes = [
        (task, seed)
        for task in args.tasks
        for seed in range(args.first_seed, args.first_seed + args.seeds)
    ]
    summary = []
    for task, seed in tqdm(episodes, desc="recording demonstrations", unit="episode"):
        bag = args.out / f"{task}_seed{seed:04d}"
        result = record_episode(
            sim,
            task,
            seed,
            bag,
            args.render_period,
            args.storage,
            args.compression,
            args.random_start,
            args.miss_first_grasp,
        )
        summary.append(
            {
                "bag": bag.name,
                "task": task,
                "seed": seed,
                "success": result.success,
                "duration": result.sim_time,
                "ik_failures": result.ik_failures,
                "random_start": args.random_start,
                "miss_first_grasp": args.miss_first_grasp,
            }
        )
    sim.close()
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for task in args.tasks:
        outcomes = [e["success"] for e in summary if e["task"] == task]
        print(f"{task}: {sum(outcomes)}/{len(outcomes)} expert successes")


if __name__ == "__main__":
    main()
