"""Plausibility checks of a predicted action chunk before any of it is executed.

A model can output something no sane controller should follow even when every number is finite
and within the workspace: a jump across the workspace from one step to the next, or a gripper
that opens and closes every step. Such a chunk is refused as a whole (the node then holds the
arm) instead of being clipped into something that merely looks safe.
"""

from __future__ import annotations

import numpy as np

from action_images_ros.core.action_chunk import ActionChunk


def chunk_problem(
    chunk: ActionChunk,
    start_position: np.ndarray,
    max_tcp_speed: float,
    max_gripper_switches: int,
) -> str | None:
    """Why `chunk` (times relative to the observation of `start_position`) must not be
    executed, or None. Only its valid steps count; the start state is its step 0."""
    valid = chunk.valid
    if not np.any(valid):
        return "the chunk has no valid step"
    times = np.concatenate([[0.0], chunk.times[valid]])
    positions = np.vstack([np.asarray(start_position, dtype=np.float64), chunk.positions[valid]])
    gaps = np.diff(times)
    distances = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    # A step due at the start time (gap 0) that moves the tool is an infinite speed.
    speeds = np.where(distances > 0, distances / np.maximum(gaps, 1e-12), 0.0)
    worst = int(np.argmax(speeds))
    if speeds[worst] > max_tcp_speed:
        return (
            f"the chunk moves the tool {distances[worst]:.3f} m in {gaps[worst]:.3f} s at step "
            f"{worst + 1} ({speeds[worst]:.2f} m/s > max_tcp_speed {max_tcp_speed} m/s)"
        )
    # Among the chunk's own steps: the measured opening lags a command (a closing gripper is
    # half open for a while), so comparing with it would count switches that are not there.
    closed = chunk.gripper_openness[valid] <= 0.5
    switches = int(np.count_nonzero(np.diff(closed.astype(int))))
    if switches > max_gripper_switches:
        return (
            f"the chunk switches the gripper {switches} times "
            f"(max_gripper_switches {max_gripper_switches})"
        )
    return None
