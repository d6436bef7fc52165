"""Draw docs/images/action_images.png: the sim's three camera views during a pick, the action
image of the current end-effector action in each view, and the views with the next second of
actions drawn in (path, orientation ticks, the action image blended in).

    scripts/bootstrap.sh -- python scripts/make_readme_figure.py [--out FILE.png]

Everything comes from the package: the scripted pick expert in the MuJoCo scene, and the
codec's `encode` / `draw_overlays` with the published drawing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from action_images_ros.core.action_images import encode
from action_images_ros.core.cameras import CameraRig
from action_images_ros.core.overlays import draw_overlays
from action_images_ros.sim.experts import ExpertArm, run_episode
from action_images_ros.sim.panda_sim import PandaSim
from action_images_ros.sim.scene import SceneConfig, default_cameras
from action_images_ros.sim.tasks import make_task

SIZE = 160  # pixels per view
SEED = 7
MOMENT = 1.0  # seconds into the episode: the arm moves over the cube
AHEAD = 2.0  # seconds of actions drawn after it
PERIOD = 0.1  # seconds between recorded steps


def record_pick(sim: PandaSim) -> tuple[dict[str, np.ndarray], list[np.ndarray], list[float]]:
    """Run the pick expert; return the views at MOMENT and the tool poses and gripper
    openness every PERIOD seconds from MOMENT to MOMENT + AHEAD."""
    views: dict[str, np.ndarray] = {}
    poses: list[np.ndarray] = []
    gripper: list[float] = []

    def on_step(arm: ExpertArm) -> None:
        due = MOMENT + len(poses) * PERIOD
        if arm.time + 1e-9 < due or due > MOMENT + AHEAD + 1e-9:
            return
        if not views:
            views.update(sim.render())
        poses.append(sim.ee_transform())
        gripper.append(sim.gripper_openness())

    run_episode(sim, make_task("pick"), SEED, on_step)
    return views, poses, gripper


def figure(out: Path) -> Path:
    """Render the figure to `out` (a PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sim = PandaSim(SceneConfig(cameras=default_cameras(SIZE, SIZE)))
    try:
        views, poses, gripper = record_pick(sim)
        names = list(views)
        rig = CameraRig.from_arrays(
            [sim.camera_intrinsics(n) for n in names],
            [sim.camera_extrinsics(n) for n in names],
            SIZE,
            SIZE,
        )
    finally:
        sim.close()
    positions = np.array([p[:3, 3] for p in poses])
    rotations = np.array([p[:3, :3] for p in poses])
    openness = np.array(gripper)
    frames = np.stack([views[n] for n in names])
    drawn = encode(positions[:1], rotations[:1], openness[:1], rig).images[0].numpy()
    overlays = draw_overlays(frames, positions, rotations, openness, rig)
    rows = (
        ("camera view", frames),
        ("action image", (255 * drawn).astype(np.uint8)),
        (f"next {AHEAD:g} s drawn in", overlays),
    )
    fig, axes = plt.subplots(3, len(names), figsize=(2.0 * len(names), 6.2))
    for row, (label, images) in enumerate(rows):
        for column, name in enumerate(names):
            axis = axes[row, column]
            axis.imshow(images[column])
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name, fontsize=9)
            if column == 0:
                axis.set_ylabel(label, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/action_images.png"))
    print(figure(parser.parse_args().out))


if __name__ == "__main__":
    main()
