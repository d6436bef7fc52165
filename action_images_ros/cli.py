"""`action-images <command> ...`: the package's commands in one place.

action-images demo          the simulated demo (see action_images_ros.demo)
action-images record-demos  scripted sim demonstrations to rosbag2
action-images label-bag     rosbag2 demonstrations to training episodes
action-images evaluate      a checkpoint's closed-loop success and labeling error
action-images export-lerobot   episodes to a LeRobot v3 dataset (with camera models)
action-images import-lerobot   a LeRobot v3 dataset with camera models to episodes
action-images upgrade-model a model directory of the old format to the current one
action-images benchmark metaworld   the policy on Meta-World next to its experts
action-images import-checkpoint  the released Action Images checkpoint as a model directory
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = {
    "demo": "action_images_ros.demo",
    "record-demos": "action_images_ros.record_demos",
    "label-bag": "action_images_ros.label_bag",
    "evaluate": "action_images_ros.evaluate",
    "export-lerobot": "action_images_ros.data.lerobot:export_main",
    "import-lerobot": "action_images_ros.data.lerobot:import_main",
    "upgrade-model": "action_images_ros.model.upgrade",
    "benchmark": "action_images_ros.benchmarks:main",
    "import-checkpoint": "action_images_ros.model.import_checkpoint",
}


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        raise SystemExit(0 if argv and argv[0] in ("-h", "--help") else 2)
    command, *rest = argv
    module, _, function = COMMANDS[command].partition(":")
    # A command's main returns (or raises SystemExit with) its exit status.
    raise SystemExit(getattr(importlib.import_module(module), function or "main")(rest) or 0)


if __name__ == "__main__":
    main()
