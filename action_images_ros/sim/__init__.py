"""MuJoCo Panda simulation: scene, joint trajectory controller, tasks and scripted experts.

Importing this package sets ``MUJOCO_GL=egl`` unless ``MUJOCO_GL`` is already set, so offscreen
rendering works on headless machines (set ``MUJOCO_GL=osmesa`` or ``glfw`` to override).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
