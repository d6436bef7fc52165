"""How the arm moves in closed loop: smoothness at chunk seams, time at rest, limits, success.

    scripts/bootstrap.sh -- python bench/bench_motion.py record --label after \\
        [--checkpoint DIR] [--tasks reach pick] [--seeds 50] [--first-seed 1000] \\
        [--real-time-factor 1.0] [--out outputs/bench_motion]
    scripts/bootstrap.sh -- python bench/bench_motion.py analyze outputs/bench_motion/before \\
        outputs/bench_motion/after

`record` runs the demo (sim node + policy node + labeling node over ROS 2, the default model
unless `--checkpoint`) in a child process and records, from a separate process over DDS, every
/joint_states message, every trajectory sent to the arm controller and the task-success flag.
It depends only on those topics, so it measures any version of the package the same way.

`analyze` rebuilds the motion the controller executes from the recorded trajectories the way
joint_trajectory_controller does (each new trajectory splines from the desired state of the
one it replaces, sampled at 1 kHz, the rate a Panda checks its commands at) and prints per
recording:
- seams: the velocity jump and the peak jerk within 10 ms of each trajectory's arrival;
- peak joint acceleration and jerk as multiples of the Franka Panda limits;
- the fraction of the time the arm is at rest (every joint slower than 0.01 rad/s, measured
  joint states) while the task is unsolved;
- time to solve and success per task (episodes told apart by the sim's reset: a gap in the
  joint-state stamps where the arm moves to a new start pose).
It writes motion.png (joint speed over time around the seams) next to each recording.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from action_images_ros.core.robot_assets import (
    PANDA_MAX_ACCELERATION,
    PANDA_MAX_JERK,
    PANDA_MAX_VELOCITY,
)
from action_images_ros.core.safety import CONTROL_PERIOD

PANDA_VELOCITY = np.array(PANDA_MAX_VELOCITY)
PANDA_ACCELERATION = np.array(PANDA_MAX_ACCELERATION)
PANDA_JERK = np.array(PANDA_MAX_JERK)
ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
AT_REST = 0.01  # rad/s
RESET_JUMP = 0.15  # rad between two 50 Hz joint states: no joint moves that fast (7.5 rad/s)


def record(args: argparse.Namespace) -> None:
    """Run the demo in a child process and record its topics into `out/recording.jsonl`."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool
    from trajectory_msgs.msg import JointTrajectory

    out = args.out / args.label
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "recording.jsonl").open("w")
    clock = {"now": 0.0}

    def seconds(stamp: object) -> float:
        return stamp.sec + stamp.nanosec * 1e-9

    def on_clock(msg: Clock) -> None:
        clock["now"] = seconds(msg.clock)

    def on_joints(msg: JointState) -> None:
        log.write(
            json.dumps(
                {
                    "kind": "joints",
                    "t": seconds(msg.header.stamp),
                    "name": list(msg.name),
                    "position": list(msg.position),
                    "velocity": list(msg.velocity),
                }
            )
            + "\n"
        )

    def on_trajectory(msg: JointTrajectory) -> None:
        stamp = seconds(msg.header.stamp)
        points = [
            {
                "positions": list(p.positions),
                "velocities": list(p.velocities),
                "accelerations": list(p.accelerations),
                "time": p.time_from_start.sec + p.time_from_start.nanosec * 1e-9,
            }
            for p in msg.points
        ]
        log.write(
            json.dumps(
                {
                    "kind": "trajectory",
                    "t": stamp if stamp > 0 else clock["now"],
                    "stamp": stamp,
                    "received": clock["now"],
                    "name": list(msg.joint_names),
                    "points": points,
                }
            )
            + "\n"
        )

    def on_success(msg: Bool) -> None:
        log.write(json.dumps({"kind": "success", "t": clock["now"], "value": msg.data}) + "\n")

    rclpy.init()
    node = Node("bench_motion_recorder")
    node.create_subscription(Clock, "/clock", on_clock, 100)
    node.create_subscription(JointState, "/joint_states", on_joints, 100)
    node.create_subscription(JointTrajectory, args.controller_topic, on_trajectory, 100)
    node.create_subscription(Bool, "/sim/task_success", on_success, 100)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    command = [
        sys.executable,
        "-m",
        "action_images_ros.demo",
        "--tasks",
        *args.tasks,
        "--episodes",
        str(args.seeds),
        "--first-seed",
        str(args.first_seed),
        "--real-time-factor",
        str(args.real_time_factor),
        "--out",
        str(out / "demo"),
    ]
    if args.checkpoint:
        command += ["--checkpoint", str(args.checkpoint)]
    if args.chunk_merge:  # a demo option of versions that have it
        command += ["--chunk-merge", args.chunk_merge]
    print("running:", " ".join(command), f"(its output in {out / 'demo.log'})", flush=True)
    demo_log = (out / "demo.log").open("w")
    demo = subprocess.Popen(
        command, env=os.environ.copy(), stdout=demo_log, stderr=subprocess.STDOUT
    )
    started = time.monotonic()
    try:
        while demo.poll() is None:
            executor.spin_once(timeout_sec=0.05)
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=30)
        log.close()
        demo_log.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    if demo.returncode != 0:
        print((out / "demo.log").read_text()[-3000:])
        raise SystemExit(f"the demo failed with exit status {demo.returncode}")
    (out / "meta.json").write_text(
        json.dumps(
            {**{k: str(v) for k, v in vars(args).items()}, "wall_s": time.monotonic() - started},
            indent=2,
        )
    )
    print(f"recorded {out}/recording.jsonl")


def _load(directory: Path) -> tuple[dict, list[dict], list[tuple[float, bool]], list[dict]]:
    joints_t, joints_q, joints_v, trajectories, success = [], [], [], [], []
    for line in (directory / "recording.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["kind"] == "joints":
            index = [entry["name"].index(n) for n in ARM_JOINTS]
            joints_t.append(entry["t"])
            joints_q.append([entry["position"][i] for i in index])
            velocity = entry["velocity"]
            joints_v.append([velocity[i] for i in index] if velocity else [np.nan] * 7)
        elif entry["kind"] == "trajectory":
            trajectories.append(entry)
        else:
            success.append((entry["t"], entry["value"]))
    order = np.argsort(joints_t, kind="stable")
    joints = {
        "t": np.asarray(joints_t)[order],
        "q": np.asarray(joints_q)[order],
        "v": np.asarray(joints_v)[order],
    }
    report = json.loads((directory / "demo" / "report.json").read_text())
    return joints, trajectories, success, report["episodes"]


def _executed_motion(
    trajectories: list[dict], joints: dict
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The controller's desired motion sampled every CONTROL_PERIOD, and the reasons of the
    trajectories it refused: each trajectory goes, at its stamp (or receipt), to the sim's
    joint_trajectory_controller model judging the Franka Panda's limits (as the sim does), which
    splines it from its desired state then (after a reset, from the measured state at rest)
    or refuses it (then the motion before it goes on)."""
    # analysis only, with this version's controller: any recording is judged the same way
    from action_images_ros.sim.trajectory_controller import (
        JointTrajectoryController,
        TrajectoryGoal,
        TrajectoryPoint,
    )

    controller = JointTrajectoryController(
        ARM_JOINTS,
        np.full(7, -10.0),
        np.full(7, 10.0),
        PANDA_VELOCITY,
        acceleration_limits=PANDA_ACCELERATION,
        jerk_limits=PANDA_JERK,
    )
    times, positions, refused = [], [], []
    # The sim's resets: a gap in the joint-state stamps (see _episodes), the arm at rest at a
    # new start pose from the first state after it.
    step = np.diff(joints["t"])
    resets = list(np.flatnonzero(step > 1.5 * np.median(step)) + 1) if len(step) else []
    controller.reset(joints["q"][0])
    for k, entry in enumerate(trajectories):
        # The stamp where there is one (the controller may receive it any time before its
        # first point: the same motion then, for a trajectory that keeps the one it replaces
        # until then), else the recorder's clock on receipt.
        received = entry["t"]
        end = trajectories[k + 1]["t"] if k + 1 < len(trajectories) else received + 1.0
        while resets and joints["t"][resets[0]] <= received:
            controller.reset(joints["q"][resets.pop(0)])
        points = [
            TrajectoryPoint(p["positions"], p["time"], p["velocities"], p["accelerations"])
            for p in entry["points"]
        ]
        stamp = entry.get("stamp", 0.0)
        goal = TrajectoryGoal(entry["name"], points, start_time=stamp or None)
        outcome = controller.set_trajectory(goal, received)
        if not outcome.accepted:
            refused.append(outcome.reason)
        count = max(1, int(np.ceil((end - received) / CONTROL_PERIOD - 1e-6)))
        local = received + CONTROL_PERIOD * np.arange(count)  # (no sample twice at a seam)
        sampled = []
        for t in local:
            if resets and joints["t"][resets[0]] <= t:  # reset before the next trajectory
                controller.reset(joints["q"][resets.pop(0)])
            sampled.append(controller.desired_state(t)[0])
        times.append(local)
        positions.append(np.array(sampled))
    if not times:
        return np.zeros(0), np.zeros((0, 7)), refused
    return np.concatenate(times), np.concatenate(positions), refused


def _episodes(joints: dict, count: int) -> list[tuple[float, float]]:
    """(start, end) sim times of the `count` episodes. A reset leaves a gap in the joint-state
    stamps (the sim's clock skips a state period) and moves the arm to a new start pose: the
    count - 1 largest jumps among the gaps."""
    step = np.diff(joints["t"])
    jump = np.max(np.abs(np.diff(joints["q"], axis=0)), axis=1)
    gaps = np.flatnonzero(step > 1.5 * np.median(step))
    if len(gaps) < count - 1:
        print(f"  note: {len(gaps)} resets seen for {count} episodes; episode figures skipped")
        return []
    resets = np.sort(gaps[np.argsort(jump[gaps])[::-1][: count - 1]])
    starts = [joints["t"][0], *joints["t"][resets + 1]]
    ends = [*joints["t"][resets], joints["t"][-1]]
    return list(zip(starts, ends, strict=True))


def analyze(directories: Sequence[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for directory in directories:
        joints, trajectories, success, episodes = _load(directory)
        t, q, refused = _executed_motion(trajectories, joints)
        dt = CONTROL_PERIOD
        v = np.diff(q, axis=0) / dt
        a = np.diff(v, axis=0) / dt
        j = np.diff(a, axis=0) / dt
        # Resets teleport the arm: leave the samples around them out.
        moving = np.max(np.abs(np.diff(q, axis=0)), axis=1) < RESET_JUMP * dt / 0.02
        ok_v, ok_a = moving, moving[1:] & moving[:-1]
        ok_j = ok_a[1:] & ok_a[:-1]
        seam_jump, seam_jerk = [], []
        for entry in trajectories[1:]:
            i = int(np.searchsorted(t, entry["t"]))
            if 2 < i < len(v) - 12 and ok_v[i - 2 : i + 2].all():
                seam_jump.append(np.max(np.abs(v[i + 1] - v[i - 2]) / PANDA_VELOCITY))
                window = slice(max(0, i - 3), min(len(j), i + 10))
                if ok_j[window].all():
                    seam_jerk.append(np.max(np.abs(j[window]) / PANDA_JERK))
        peak_a = np.max(np.abs(a[ok_a]) / PANDA_ACCELERATION) if ok_a.any() else np.nan
        peak_j = np.max(np.abs(j[ok_j]) / PANDA_JERK) if ok_j.any() else np.nan
        over_a = np.mean(np.any(np.abs(a[ok_a]) > PANDA_ACCELERATION, axis=1))
        over_j = np.mean(np.any(np.abs(j[ok_j]) > PANDA_JERK, axis=1))
        print(f"== {directory}")
        print(f"  trajectories: {len(trajectories)}, executed motion {t[-1] - t[0]:.0f} s sim")
        log = directory / "demo.log"
        logged = log.read_text().count("trajectory rejected") if log.exists() else "n/a"
        print(
            f"  refused by the controller: {logged} in the sim's log; {len(refused)} when "
            "replayed (left out of the figures below: the motion before them went on)"
        )
        kinds = Counter(" ".join(reason.split()[:2]) for reason in refused)  # joint, quantity
        for kind, count in kinds.most_common(3):
            print(f"    {count:5d}  {kind}")
        holds = log.read_text().count("holding the arm") if log.exists() else "n/a"
        print(f"  holds in the policy node's log: {holds}")
        print(
            f"  seam velocity jump (x limit): median {np.median(seam_jump):.3f}, "
            f"p95 {np.percentile(seam_jump, 95):.3f}, max {np.max(seam_jump):.3f}"
        )
        print(
            f"  seam peak jerk (x limit): median {np.median(seam_jerk):.3f}, "
            f"p95 {np.percentile(seam_jerk, 95):.3f}, max {np.max(seam_jerk):.3f}"
        )
        print(
            f"  peak acceleration {peak_a:.2f} x limit ({over_a:.2%} of 1 ms samples over); "
            f"peak jerk {peak_j:.2f} x limit ({over_j:.2%} over)"
        )
        spans = _episodes(joints, len(episodes))
        rest, unsolved, solve_times = 0.0, 0.0, {}
        flags = np.array([(s, f) for s, f in success], dtype=float).reshape(-1, 2)
        for (start, end), episode in zip(spans, episodes, strict=False):
            inside = (joints["t"] >= start) & (joints["t"] <= end)
            solved_at = flags[(flags[:, 0] >= start) & (flags[:, 0] <= end) & (flags[:, 1] > 0), 0]
            stop = solved_at[0] if len(solved_at) else end
            active = inside & (joints["t"] < stop)
            speeds = np.max(np.abs(joints["v"][active]), axis=1)
            rest += np.sum(speeds < AT_REST)
            unsolved += len(speeds)
            if episode["success"] and len(solved_at):
                solve_times.setdefault(episode["task"], []).append(solved_at[0] - start)
        if spans:
            print(f"  at rest while unsolved: {rest / max(unsolved, 1):.1%} of the time")
        for task in dict.fromkeys(e["task"] for e in episodes):
            outcomes = [e["success"] for e in episodes if e["task"] == task]
            times = solve_times.get(task, [])
            median = f"{np.median(times):.1f} s" if times else "n/a"
            print(
                f"  {task}: success {np.mean(outcomes):.0%} of {len(outcomes)}, "
                f"median time to solve {median}"
            )
        figure, axes = plt.subplots(figsize=(8, 3))
        shown = (t[1:] > t[0] + 2) & (t[1:] < t[0] + 6)
        axes.plot(t[1:][shown], np.abs(v[shown]) / PANDA_VELOCITY, lw=0.8)
        for entry in trajectories:
            if t[0] + 2 < entry["t"] < t[0] + 6:
                axes.axvline(entry["t"], color="gray", lw=0.3)
        axes.set_xlabel("sim time [s] (gray: a trajectory arrives)")
        axes.set_ylabel("|joint velocity| / limit")
        figure.tight_layout()
        figure.savefig(directory / "motion.png", dpi=120)
        plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    rec.add_argument("--label", required=True, help="name of this recording (before, after)")
    rec.add_argument("--checkpoint", type=Path, help="model directory (default: packaged)")
    rec.add_argument("--tasks", nargs="+", default=["reach", "pick"])
    rec.add_argument("--seeds", type=int, default=50)
    rec.add_argument("--first-seed", type=int, default=1000)
    rec.add_argument("--real-time-factor", type=float, default=1.0)
    rec.add_argument("--chunk-merge", help="crossfade | inpaint (default: the demo's)")
    rec.add_argument("--controller-topic", default="/panda_arm_controller/joint_trajectory")
    rec.add_argument("--out", type=Path, default=Path("outputs/bench_motion"))
    ana = commands.add_parser("analyze")
    ana.add_argument("recordings", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args)
    else:
        analyze(args.recordings)


if __name__ == "__main__":
    main()
