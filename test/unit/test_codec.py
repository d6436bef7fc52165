"""The action-image codec: the published drawing, round trips, degradation and bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from action_images_ros.core.action_decoding import DecoderConfig, decode, depth_search_decode
from action_images_ros.core.action_images import (
    ActionImageConfig,
    actions_from_paper_format,
    encode,
)
from action_images_ros.core.cameras import CameraError, CameraRig
from action_images_ros.core.overlays import blend, draw_overlays

CENTRE = np.array([0.5, 0.0, 0.25])


def look_at(eye: np.ndarray, target: np.ndarray = CENTRE) -> np.ndarray:
    """T_base_camera of an optical frame at `eye` looking at `target` (z forward, y down)."""
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    pose[:3, 3] = eye
    return pose


def rig(views: int = 3, size: int = 128, **kw) -> CameraRig:
    eyes = [[1.4, 0.0, 0.7], [0.5, 0.9, 0.7], [0.5, -0.9, 0.7], [1.2, 0.7, 1.1]][:views]
    focal = size / (2 * math.tan(math.radians(25)))
    k = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]])
    return CameraRig.from_arrays(
        [k] * views, [look_at(np.array(e)) for e in eyes], size, size, **kw
    )


def random_actions(steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    positions = rng.uniform(CENTRE - 0.15, CENTRE + 0.15, (steps, 3))
    rotations = Rotation.random(steps, random_state=seed).as_matrix()
    return positions, rotations, rng.integers(0, 2, steps).astype(float)


def errors(decoded, positions, rotations) -> tuple[float, float]:
    position_mm = 1e3 * np.linalg.norm(decoded.positions.cpu().numpy() - positions, axis=1).max()
    turn = (
        Rotation.from_matrix(decoded.rotations.cpu().numpy())
        * Rotation.from_matrix(rotations).inv()
    )
    return position_mm, float(np.degrees(turn.magnitude()).max())


def test_paper_preset_reproduces_the_published_drawing_exactly() -> None:
    """Direct re-implementation of the published rule, pixel by pixel, on a small image."""
    k = np.array([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]])
    camera = CameraRig.from_arrays([k, k], [look_at(np.array([1.3, 0.1, 0.6]))] * 2, 32, 24)
    action = np.array([[0.5, 0.02, 0.3, 0.3, -0.2, 1.0, 0.8]])  # paper format, gripper open
    p, r, g = actions_from_paper_format(action)
    ours = encode(torch.tensor(p), torch.tensor(r), torch.tensor(g), camera).images[0, 0].numpy()

    rotation = Rotation.from_euler("xyz", action[0, 3:6]).as_matrix()  # R = Rz Ry Rx
    points = [p[0], p[0] + 0.1 * rotation[:, 0], p[0] + 0.1 * rotation @ np.array([0, 0, -1])]
    world_to_camera = np.linalg.inv(look_at(np.array([1.3, 0.1, 0.6])))
    sigma = 0.05 * min(32, 24)
    expected = np.zeros((24, 32, 3))
    for channel, point in enumerate(points):
        x = k @ (world_to_camera[:3, :3] @ point + world_to_camera[:3, 3])
        u, v = x[0] / x[2], x[1] / x[2]
        for i in range(24):
            for j in range(32):
                expected[i, j, channel] = math.exp(-((j - u) ** 2 + (i - v) ** 2) / (2 * sigma**2))
    blue = expected[..., 2]
    expected[..., 2] = np.where(blue <= 0.25, 0.25, blue)  # open gripper (0.8 > 0.5)
    np.testing.assert_allclose(ours, expected, atol=1e-12)


@pytest.mark.parametrize("views", [2, 3, 4])
def test_clean_round_trip_is_sub_millimetre(views: int) -> None:
    camera = rig(views, size=256)
    positions, rotations, gripper = random_actions(12, seed=views)
    images = encode(torch.tensor(positions), torch.tensor(rotations), torch.tensor(gripper), camera)
    assert images.images.shape == (12, views, 256, 256, 3) and images.visible.all()
    before = images.images.clone()
    decoded = decode(images.images, camera)
    assert torch.equal(images.images, before), "decoding never modifies its input"
    position_mm, rotation_deg = errors(decoded, positions, rotations)
    assert position_mm < 0.5 and rotation_deg < 0.5
    np.testing.assert_array_equal(decoded.gripper.numpy(), gripper)
    assert decoded.valid.all() and (decoded.confidence > 0.9).all()


def test_noise_blur_and_quantisation_round_trip() -> None:
    camera = rig(3, size=128)
    positions, rotations, gripper = random_actions(10, seed=7)
    images = encode(torch.tensor(positions), torch.tensor(rotations), torch.tensor(gripper), camera)
    noisy = images.images.permute(0, 1, 4, 2, 3).reshape(-1, 1, 128, 128)
    kernel = torch.exp(-(torch.arange(-6, 7.0) ** 2) / (2 * 2.0**2))
    kernel = (kernel / kernel.sum()).to(noisy.dtype)
    noisy = torch.nn.functional.conv2d(noisy, kernel.view(1, 1, 1, -1), padding=(0, 6))
    noisy = torch.nn.functional.conv2d(noisy, kernel.view(1, 1, -1, 1), padding=(6, 0))
    noisy = noisy.reshape(10, 3, 3, 128, 128).permute(0, 1, 3, 4, 2)
    noisy = noisy + 0.03 * torch.randn(noisy.shape, generator=torch.Generator().manual_seed(0))
    quantised = (noisy.clamp(0, 1) * 255).round().to(torch.uint8)
    decoded = decode(quantised, camera)
    position_mm, rotation_deg = errors(decoded, positions, rotations)
    assert position_mm < 3.0 and rotation_deg < 2.0
    np.testing.assert_array_equal(decoded.gripper.numpy(), gripper)


def test_continuous_gripper_encoding() -> None:
    camera = rig(2)
    positions, rotations, _ = random_actions(5)
    openness = np.array([0.0, 0.25, 0.5, 0.8, 1.0])
    config = ActionImageConfig(gripper_encoding="continuous")
    images = encode(
        torch.tensor(positions), torch.tensor(rotations), torch.tensor(openness), camera, config
    )
    decoded = decode(images.images, camera, config)
    np.testing.assert_allclose(decoded.gripper.numpy(), openness, atol=0.02)


def test_a_view_that_cannot_see_is_down_weighted_not_trusted() -> None:
    """A fourth camera that looks away: its keypoints are reported invisible, and the decode
    from the other three stays exact."""
    cameras = rig(4, size=128)
    away = cameras.extrinsics.clone()
    away[3] = torch.tensor(look_at(np.array([0.5, 1.0, 0.3]), np.array([0.5, 3.0, 0.3])))
    camera = CameraRig(cameras.intrinsics, away, 128, 128)
    positions, rotations, gripper = random_actions(4)
    images = encode(torch.tensor(positions), torch.tensor(rotations), torch.tensor(gripper), camera)
    assert not images.visible[:, 3].any() and images.visible[:, :3].all()
    assert images.images[:, 3, ..., :2].max() == 0, "nothing drawn from behind the camera"
    decoded = decode(images.images, camera)
    assert (decoded.view_confidence[:, 3, :2] == 0).all()
    position_mm, _ = errors(decoded, positions, rotations)
    assert decoded.valid.all() and position_mm < 1.0


def test_fewer_than_two_usable_views_is_flagged_and_optionally_interpolated() -> None:
    camera = rig(2, size=128)
    positions = np.linspace(CENTRE - 0.1, CENTRE + 0.1, 5)
    rotations = np.tile(np.eye(3), (5, 1, 1))
    images = encode(torch.tensor(positions), torch.tensor(rotations), torch.ones(5), camera)
    damaged = images.images.clone()
    damaged[2, 1, ..., 0] = 0.0  # the end-effector blob vanishes from one view at step 2
    decoded = decode(damaged, camera)
    assert decoded.valid.tolist() == [True, True, False, True, True]
    assert decoded.confidence[2] == 0
    filled = decode(damaged, camera, config=DecoderConfig(interpolate_invalid=True))
    assert not filled.valid[2] and filled.interpolated[2]
    np.testing.assert_allclose(filled.positions[2].numpy(), positions[2], atol=1e-3)


def test_baseline_depth_search_is_coarser() -> None:
    camera = rig(3, size=128)
    positions, rotations, gripper = random_actions(8, seed=3)
    images = encode(torch.tensor(positions), torch.tensor(rotations), torch.tensor(gripper), camera)
    baseline, _, baseline_gripper = depth_search_decode(images.images, camera, samples=64)
    baseline_mm = 1e3 * np.linalg.norm(baseline.numpy() - positions, axis=1).mean()
    ours_mm, _ = errors(decode(images.images, camera), positions, rotations)
    assert baseline_mm > 10 * ours_mm
    np.testing.assert_array_equal(baseline_gripper.numpy(), gripper)


@settings(max_examples=40, deadline=None)
@given(st.floats(-0.1, 0.1), st.floats(-0.1, 0.1), st.floats(-0.1, 0.1))
def test_rays_back_project_pixels(dx: float, dy: float, dz: float) -> None:
    camera = rig(3)
    point = torch.tensor(CENTRE + [dx, dy, dz])
    pixels, depth = camera.project(point)
    origins, directions = camera.rays(pixels)
    along = (
        origins
        + depth[:, None]
        * directions
        / (directions @ camera.extrinsics[:, :3, 2].T).diagonal()[:, None]
    )
    np.testing.assert_allclose(along.numpy(), np.tile(point.numpy(), (3, 1)), atol=1e-9)
    points, rms = camera.triangulate(pixels[None], torch.ones(1, 3, dtype=torch.float64))
    np.testing.assert_allclose(points[0].numpy(), point.numpy(), atol=1e-9)
    assert rms[0] < 1e-6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    positions, rotations, gripper = random_actions(6)
    results = []
    for device in ("cpu", "cuda"):
        camera = rig(3, device=device)
        images = encode(
            torch.tensor(positions), torch.tensor(rotations), torch.tensor(gripper), camera
        )
        decoded = decode(images.images, camera)
        results.append((images.images.cpu(), decoded.positions.cpu()))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1], atol=1e-6, rtol=0)


def test_bad_input_is_refused_naming_the_problem() -> None:
    camera = rig(2)
    positions, rotations, gripper = (torch.tensor(a) for a in random_actions(2))
    images = encode(positions, rotations, gripper, camera).images
    with pytest.raises(CameraError, match="at least 2 cameras"):
        decode(images[:, :1], CameraRig(camera.intrinsics[:1], camera.extrinsics[:1], 128, 128))
    with pytest.raises(CameraError, match="share one optical centre"):
        decode(images, CameraRig(camera.intrinsics, camera.extrinsics[[0, 0]], 128, 128))
    with pytest.raises(CameraError, match="images are 2 views of 64x64"):
        decode(images[..., :64, :64, :], camera)
    with pytest.raises(ValueError, match="non-finite"):
        decode(images * float("nan"), camera)
    with pytest.raises(ValueError, match="positions contains non-finite"):
        encode(positions * float("nan"), rotations, gripper, camera)
    with pytest.raises(ValueError, match="need positions"):
        encode(positions[:, :2], rotations, gripper, camera)
    with pytest.raises(ValueError, match="gripper openness"):
        encode(positions, rotations, gripper + 2, camera)
    with pytest.raises(CameraError, match="lens distortion"):
        CameraRig.from_camera_infos(
            [{"k": np.eye(3).ravel(), "width": 8, "height": 8, "d": [0.1, 0, 0, 0, 0]}] * 2,
            [np.eye(4)] * 2,
        )
    with pytest.raises(CameraError, match="rigid"):
        CameraRig.from_arrays([np.eye(3)] * 2, [2 * np.eye(4)] * 2, 8, 8)


def test_overlays_mark_the_blobs_and_leave_the_rest() -> None:
    camera = rig(2)
    positions, rotations, gripper = random_actions(6)
    gripper[:] = [1, 1, 0, 0, 1, 1]
    frames = np.full((2, 128, 128, 3), 40, dtype=np.uint8)
    drawn = draw_overlays(frames, positions, rotations, gripper, camera, current=0)
    assert drawn.shape == frames.shape
    pixel = camera.project(torch.tensor(positions[0]))[0][0].round().long().tolist()
    around = drawn[0, pixel[1] - 3 : pixel[1] + 4, pixel[0] - 3 : pixel[0] + 4]
    assert (around[..., 0] > 150).any(), "the red blob of the current step"
    assert (drawn[0, :3, :3] == 40).all(), "corners far from everything stay untouched"
    assert (drawn[0] == [230, 50, 50]).all(-1).any(), "the gripper closing is marked"
    with pytest.raises(ValueError, match="differ"):
        blend(frames[0], np.zeros((64, 64, 3)))


def test_resized_rig_follows_pixel_centres_as_cv2_resize_does() -> None:
    k = np.array([[100.0, 0, 47.5], [0, 90.0, 30.0], [0, 0, 1]])
    rig = CameraRig.from_arrays([k, k], [np.eye(4), np.eye(4)], 96, 64)
    point = torch.tensor([[0.05, -0.02, 1.0]], dtype=torch.float64)
    before = rig.project(point)[0][0, 0]
    after = rig.resized(32, 16).project(point)[0][0, 0]
    expected = (before + 0.5) * torch.tensor([32 / 96, 16 / 64], dtype=torch.float64) - 0.5
    torch.testing.assert_close(after, expected)
    image = np.zeros((64, 96), np.float32)
    image[30:34, 45:51] = 1.0  # a block centred on (47.5, 31.5)
    small = cv2.resize(image, (32, 16), interpolation=cv2.INTER_AREA)
    rows, cols = np.nonzero(small)
    centre = (
        np.average(cols, weights=small[rows, cols]),
        np.average(rows, weights=small[rows, cols]),
    )
    np.testing.assert_allclose(centre, ((47.5 + 0.5) / 3 - 0.5, (31.5 + 0.5) / 4 - 0.5), atol=1e-6)
