from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.chunk_execution import ActionQueue, ExecutionConfig


def _chunk(start_x: float, steps: int = 10, dt: float = 0.1, yaw: float = 0.0, **kw) -> ActionChunk:
    positions = np.stack(
        [start_x + 0.01 * np.arange(steps), np.zeros(steps), np.full(steps, 0.3)], axis=1
    )
    quaternions = np.tile(Rotation.from_euler("z", yaw).as_quat(), (steps, 1))
    chunk = ActionChunk.from_poses(positions, quaternions, np.ones(steps), dt)
    if kw:
        chunk = ActionChunk(**{**chunk.__dict__, **kw})
    return chunk


def test_stale_and_invalid_steps_are_never_queued() -> None:
    queue = ActionQueue()
    valid = np.ones(10, dtype=bool)
    valid[5] = False
    kept = queue.merge(_chunk(0.4, valid=valid), start_time=10.0, now=10.35)
    assert kept == 6  # steps at 10.1 .. 10.3 are past, the one at 10.6 is invalid
    plan = queue.upcoming(10.35)
    assert plan.times[0] == pytest.approx(10.4)
    assert not np.any(np.isclose(plan.times, 10.6))


def test_new_chunk_crossfades_from_the_old_plan() -> None:
    queue = ActionQueue(ExecutionConfig(blend_time=0.3))
    queue.merge(_chunk(0.4), start_time=0.0, now=0.0)
    queue.merge(_chunk(0.5, yaw=0.5), start_time=0.25, now=0.3)
    plan = queue.upcoming(0.3)
    # First new step (t=0.35): still the old plan's position there; after 0.3 s: the new plan.
    assert plan.positions[0, 0] == pytest.approx(0.4 + 0.01 * 2.5)
    old_angle = Rotation.from_quat(plan.quaternions[0]).as_euler("xyz")[2]
    assert old_angle == pytest.approx(0.0, abs=1e-9)
    assert plan.positions[3, 0] == pytest.approx(0.5 + 0.01 * 3)  # t = 0.65: fully new
    assert Rotation.from_quat(plan.quaternions[3]).as_euler("xyz")[2] == pytest.approx(0.5)
    steps = np.abs(np.diff(plan.positions[:, 0]))
    assert steps.max() < 0.05, "no jump at the chunk boundary"


def test_zero_blend_time_replaces() -> None:
    queue = ActionQueue(ExecutionConfig(blend_time=0.0))
    queue.merge(_chunk(0.4), start_time=0.0, now=0.0)
    queue.merge(_chunk(0.6), start_time=0.2, now=0.2)
    np.testing.assert_allclose(queue.upcoming(0.2).positions[0], [0.6, 0.0, 0.3])


def test_remaining_time_triggers_replanning() -> None:
    queue = ActionQueue(ExecutionConfig(replan_margin=0.5))
    assert queue.needs_new_chunk(0.0)
    queue.merge(_chunk(0.4), start_time=0.0, now=0.0)
    assert queue.remaining(0.2) == pytest.approx(0.8)
    assert not queue.needs_new_chunk(0.2)
    assert queue.needs_new_chunk(0.6)
    assert queue.upcoming(1.5) is None
    # With a 0.4 s inference the next chunk is asked for 0.4 s earlier: at its arrival the
    # margin is still queued.
    assert not queue.needs_new_chunk(0.2, latency=0.2)
    assert queue.needs_new_chunk(0.2, latency=0.4)


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        ExecutionConfig(blend_time=-1.0)


def test_given_actions_are_the_plan_at_the_policy_frame_times_until_the_chunk_arrives() -> None:
    queue = ActionQueue(ExecutionConfig(merge="inpaint"))
    assert queue.given_actions(0.0, 1.0, 0.2) is None, "nothing is planned yet"
    queue.merge(_chunk(0.4), start_time=0.0, now=0.0)  # x = 0.4 + 0.1 t, t = 0.1 .. 1.0
    given = queue.given_actions(start_time=0.05, until=0.5, interval=0.2)
    np.testing.assert_allclose(given.times, [0.2, 0.4])
    np.testing.assert_allclose(given.positions[:, 0], 0.4 + 0.1 * (np.array([0.25, 0.45]) - 0.1))
    assert given.valid.all()
    assert queue.given_actions(0.05, 0.2, 0.2) is None, "the chunk arrives before a step is due"
    far = queue.given_actions(0.0, 5.0, 0.2)
    assert far.times[-1] == pytest.approx(1.0), "never beyond the end of the plan"


def test_an_inpainted_chunk_replaces_the_plan_without_a_crossfade() -> None:
    queue = ActionQueue(ExecutionConfig(blend_time=0.3, merge="inpaint"))
    queue.merge(_chunk(0.4), start_time=0.0, now=0.0)
    queue.merge(_chunk(0.6), start_time=0.25, now=0.3)
    plan = queue.upcoming(0.3)
    assert plan.positions[0, 0] == pytest.approx(0.6 + 0.01 * 0), "the new chunk as it is"
    with pytest.raises(ValueError, match="merge must be one of"):
        ExecutionConfig(merge="average")


def test_a_chunk_all_due_on_arrival_keeps_its_last_target_where_asked() -> None:
    dropping = ActionQueue()
    assert dropping.merge(_chunk(0.4), start_time=0.0, now=2.0) == 0 and dropping.plan is None
    queue = ActionQueue(ExecutionConfig(late_delay=0.2))
    kept = queue.merge(_chunk(0.4), start_time=0.0, now=2.05)  # steps 0.1 .. 1.0 s all past
    plan = queue.upcoming(2.05)
    assert kept == len(plan) and 1 <= kept <= 4, "only the chunk's last 0.3 s"
    assert plan.times[-1] == pytest.approx(2.05 + 0.1 + 0.2), "one step interval + late_delay"
    assert plan.positions[-1, 0] == pytest.approx(0.4 + 0.01 * 9), "the chunk's last target"
    assert queue.late_chunks == 1
    with pytest.raises(ValueError, match="late_delay"):
        ExecutionConfig(late_delay=-1.0)
