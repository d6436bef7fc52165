"""The Meta-World tier: offscreen rendering is chosen before anything imports mujoco."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
