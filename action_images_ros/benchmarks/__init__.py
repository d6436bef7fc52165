"""Public benchmarks run through the project's policy: `action-images benchmark SUITE ...`.

action-images benchmark metaworld [options]   Meta-World (see benchmarks.metaworld_suite)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

SUITES = {"metaworld": "action_images_ros.benchmarks.metaworld_suite"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite named by the first argument with the rest of the arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUITES:
        print(f"usage: action-images benchmark {{{','.join(SUITES)}}} [options]", file=sys.stderr)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"unknown benchmark {argv[0]!r}; known: {', '.join(SUITES)}", file=sys.stderr)
            return 2
        return 0 if argv else 2
    return importlib.import_module(SUITES[argv[0]]).main(argv[1:])
