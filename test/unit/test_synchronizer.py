from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from action_images_ros.core.synchronizer import CameraSynchronizer

CAMERAS = ("front", "side", "wrist")


def _feed(sync: CameraSynchronizer, stamps: dict[str, list[float]]) -> None:
    for camera, camera_stamps in stamps.items():
        for stamp in camera_stamps:
            sync.add(camera, stamp, (camera, stamp))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.0, 0.009))
def test_jittered_stamps_give_the_newest_consistent_set(seed: int, jitter: float) -> None:
    """30 Hz cameras with up to 9 ms jitter, slop 10 ms: the newest frame of each matches."""
    rng = np.random.default_rng(seed)
    sync = CameraSynchronizer(CAMERAS, slop=0.02, max_age=0.5)
    base = np.arange(20) / 30.0 + 100.0
    stamps = {c: list(base + rng.uniform(-jitter, jitter, 20)) for c in CAMERAS}
    for order in rng.permutation(60):  # frames arrive interleaved and out of order
        camera = CAMERAS[order % 3]
        sync.add(camera, stamps[camera][order // 3], (camera, order // 3))
    result = sync.latest(now=base[-1] + 0.05)
    assert result is not None, sync.last_failure
    assert [frame[1] for frame in result.frames] == [19, 19, 19]
    assert [frame[0] for frame in result.frames] == list(CAMERAS)
    assert result.skew <= 0.02


def test_missing_camera_gives_no_set_and_names_it() -> None:
    sync = CameraSynchronizer(CAMERAS, slop=0.01, max_age=1.0)
    _feed(sync, {"front": [1.0], "side": [1.0]})
    assert sync.latest(now=1.1) is None
    assert "wrist" in sync.last_failure


def test_dropped_frame_falls_back_to_the_previous_consistent_set() -> None:
    sync = CameraSynchronizer(CAMERAS, slop=0.005, max_age=1.0)
    _feed(sync, {"front": [1.0, 1.1], "side": [1.0, 1.1], "wrist": [1.0]})  # wrist 1.1 lost
    result = sync.latest(now=1.15)
    assert result is not None and result.stamps == (1.0, 1.0, 1.0)


def test_stale_sets_are_never_returned() -> None:
    sync = CameraSynchronizer(CAMERAS, slop=0.01, max_age=0.2)
    _feed(sync, {c: [1.0] for c in CAMERAS})
    assert sync.latest(now=1.1) is not None
    assert sync.latest(now=1.3) is None
    assert "max_age" in sync.last_failure


def test_inconsistent_stamps_give_no_set() -> None:
    sync = CameraSynchronizer(CAMERAS, slop=0.01, max_age=5.0)
    _feed(sync, {"front": [1.0], "side": [1.05], "wrist": [1.0]})
    assert sync.latest(now=1.1) is None
    assert "slop" in sync.last_failure


def test_newer_than_skips_the_set_already_used() -> None:
    sync = CameraSynchronizer(CAMERAS, slop=0.01, max_age=5.0)
    _feed(sync, {c: [1.0] for c in CAMERAS})
    first = sync.latest(now=1.0)
    assert first is not None
    assert sync.latest(now=1.0, newer_than=first.stamp) is None
    _feed(sync, {c: [1.2] for c in CAMERAS})
    second = sync.latest(now=1.2, newer_than=first.stamp)
    assert second is not None and second.stamp == 1.2


def test_queue_keeps_only_the_newest_frames_and_replaces_repeated_stamps() -> None:
    sync = CameraSynchronizer(["only"], slop=0.0, max_age=100.0, queue_size=3)
    for stamp in [5.0, 1.0, 4.0, 2.0, 3.0]:
        sync.add("only", stamp, f"frame {stamp}")
    sync.add("only", 5.0, "replacement")
    result = sync.latest(now=5.0)
    assert result is not None and result.frames == ("replacement",)
    assert sync.latest(now=5.0, newer_than=5.0) is None
    assert sync.latest(now=5.0, newer_than=2.5) is not None


def test_concurrent_adds_and_reads() -> None:
    sync = CameraSynchronizer(CAMERAS, slop=0.001, max_age=1e9, queue_size=5)

    def produce(camera: str) -> None:
        for i in range(500):
            sync.add(camera, float(i), i)

    threads = [threading.Thread(target=produce, args=(c,)) for c in CAMERAS]
    for thread in threads:
        thread.start()
    seen = [sync.latest(now=500.0) for _ in range(200)]
    for thread in threads:
        thread.join()
    for result in seen:
        if result is not None:
            assert len(set(result.frames)) == 1
    final = sync.latest(now=500.0)
    assert final is not None and final.frames == (499, 499, 499)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cameras": []}, "non-empty and unique"),
        ({"cameras": ["a", "a"]}, "non-empty and unique"),
        ({"slop": -1.0}, "slop >= 0"),
        ({"max_age": 0.0}, "max_age > 0"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict, message: str) -> None:
    settings_ = {"cameras": CAMERAS, "slop": 0.01, "max_age": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        CameraSynchronizer(**settings_)


def test_unknown_camera_is_rejected() -> None:
    with pytest.raises(KeyError, match="unknown camera 'top'"):
        CameraSynchronizer(CAMERAS, slop=0.01, max_age=1.0).add("top", 1.0, None)


def test_a_future_stamped_frame_is_discarded_and_good_sets_follow() -> None:
    """One frame stamped 1000 s ahead must not stay the newest frame of its queue (then no set
    could ever be newer than it): it is discarded, named, and the next good set is returned."""
    sync = CameraSynchronizer(CAMERAS, slop=0.01, max_age=0.5, future_tolerance=0.1)
    _feed(sync, {c: [10.0] for c in CAMERAS})
    _feed(sync, {c: [1010.0] for c in CAMERAS})  # a consistent set, 1000 s ahead
    assert sync.latest(now=10.05, newer_than=10.0) is None
    assert "future" in sync.last_failure and "front" in sync.last_failure
    _feed(sync, {c: [10.1] for c in CAMERAS})
    second = sync.latest(now=10.15, newer_than=10.0)
    assert second is not None and second.stamp == 10.1 and second.frames[0] == ("front", 10.1)


def test_newer_than_after_now_is_ignored() -> None:
    """A last-used stamp ahead of the clock (the clock went back) does not block every set."""
    sync = CameraSynchronizer(CAMERAS, slop=0.01, max_age=0.5)
    _feed(sync, {c: [2.0] for c in CAMERAS})
    result = sync.latest(now=2.1, newer_than=500.0)
    assert result is not None and result.stamp == 2.0


def test_stalled_names_cameras_whose_stream_stopped() -> None:
    sync = CameraSynchronizer(CAMERAS, slop=0.01, max_age=5.0)
    _feed(sync, {"front": [1.0, 1.3], "side": [1.0, 1.3], "wrist": [1.0]})
    sync.add("side", 99.0, "future")
    assert sync.stalled(now=1.35, timeout=0.2) == ["wrist"]
    assert sync.stalled(now=1.6, timeout=0.2) == list(CAMERAS)
