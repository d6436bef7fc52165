"""A rig of calibrated pinhole cameras: projection, rays and weighted triangulation (torch).

Conventions: intrinsics K (3x3) for images of `width` x `height` pixels; pixel (row i, column j)
sits at (u, v) = (j, i). Extrinsics T_base_camera (4x4): the pose of each camera's optical frame
(ROS/OpenCV: z forward, x right, y down) in the robot base frame, as a TF lookup
base -> <camera>_optical_frame gives it. Everything is batched and runs on the rig's device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


class CameraError(ValueError):
    """A camera or rig that cannot be used (shapes, values, degenerate geometry)."""


@dataclass(frozen=True)
class CameraRig:
    """V cameras sharing one image size.

    Attributes:
        intrinsics: (V, 3, 3) K per view.
        extrinsics: (V, 4, 4) T_base_camera per view.
        width, height: image size in pixels.
    """

    intrinsics: torch.Tensor
    extrinsics: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        k, t = torch.as_tensor(self.intrinsics), torch.as_tensor(self.extrinsics)
        k, t = k.to(torch.float64 if not k.is_floating_point() else k.dtype), t.to(k.dtype)
        views = k.shape[0] if k.ndim == 3 else -1
        if k.shape != (views, 3, 3) or t.shape != (views, 4, 4):
            raise CameraError(
                f"intrinsics must be (V, 3, 3) and extrinsics (V, 4, 4), got {tuple(k.shape)} "
                f"and {tuple(t.shape)}"
            )
        if not (torch.isfinite(k).all() and torch.isfinite(t).all()):
            raise CameraError("intrinsics or extrinsics contain non-finite values")
        if self.width <= 0 or self.height <= 0:
            raise CameraError(f"image size must be positive, got {self.width}x{self.height}")
        if (k[:, 0, 0] <= 0).any() or (k[:, 1, 1] <= 0).any():
            raise CameraError("focal lengths must be positive")
        rotation = t[:, :3, :3]
        identity = torch.eye(3, dtype=t.dtype, device=t.device)
        if (rotation @ rotation.transpose(1, 2) - identity).abs().max() > 1e-4:
            raise CameraError("extrinsics must be rigid transforms (orthonormal rotation)")
        object.__setattr__(self, "intrinsics", k)
        object.__setattr__(self, "extrinsics", t)

    @classmethod
    def from_arrays(
        cls,
        intrinsics: Sequence[np.ndarray] | np.ndarray,
        extrinsics: Sequence[np.ndarray] | np.ndarray,
        width: int,
        height: int,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> CameraRig:
        k = torch.as_tensor(np.asarray(intrinsics), dtype=dtype, device=device)
        t = torch.as_tensor(np.asarray(extrinsics), dtype=dtype, device=device)
        return cls(k, t, width, height)

    @classmethod
    def from_camera_infos(
        cls,
        infos: Sequence[dict],
        extrinsics: Sequence[np.ndarray],
        device: str | torch.device = "cpu",
    ) -> CameraRig:
        """From CameraInfo fields per view: {k, p, width, height, distortion_model, d}.

        Images must be rectified (all distortion coefficients zero): the action-image drawing
        is a pinhole projection, so distorted images are refused rather than drawn wrong. P's
        left 3x3 is used when given (the rectified camera), else K.
        """
        sizes = {(int(i["width"]), int(i["height"])) for i in infos}
        if len(sizes) != 1:
            raise CameraError(f"all views must share one image size, got {sorted(sizes)}")
        ks = []
        for index, info in enumerate(infos):
            d = np.asarray(info.get("d", ()), dtype=np.float64)
            if np.any(d != 0):
                raise CameraError(
                    f"view {index} has lens distortion ({info.get('distortion_model')}: {d}); "
                    "rectify the images (image_proc) and pass the rectified camera_info"
                )
            p = np.asarray(info.get("p", ()), dtype=np.float64)
            k = p.reshape(3, 4)[:, :3] if p.size == 12 and p[0] > 0 else info["k"]
            ks.append(np.asarray(k, dtype=np.float64).reshape(3, 3))
        ((width, height),) = sizes
        return cls.from_arrays(ks, extrinsics, width, height, device)

    @property
    def views(self) -> int:
        return self.intrinsics.shape[0]

    @property
    def device(self) -> torch.device:
        return self.intrinsics.device

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> CameraRig:
        dtype = dtype or self.intrinsics.dtype
        return CameraRig(
            self.intrinsics.to(device, dtype),
            self.extrinsics.to(device, dtype),
            self.width,
            self.height,
        )

    def resized(self, width: int, height: int) -> CameraRig:
        """The rig of the images resized to `width` x `height` (cv2.resize, or a grid of cells
        over the image): pixel centres map as u' = (u + 0.5) * sx - 0.5, so the principal point
        moves by half a pixel as well as scaling."""
        sx, sy = width / self.width, height / self.height
        k = self.intrinsics.clone()
        k[:, 0, 0], k[:, 0, 1], k[:, 1, 1] = k[:, 0, 0] * sx, k[:, 0, 1] * sx, k[:, 1, 1] * sy
        k[:, 0, 2] = (k[:, 0, 2] + 0.5) * sx - 0.5
        k[:, 1, 2] = (k[:, 1, 2] + 0.5) * sy - 0.5
        return CameraRig(k, self.extrinsics, width, height)

    def require_triangulable(self) -> None:
        """Refuse rigs that cannot triangulate: fewer than two views or coincident centres."""
        if self.views < 2:
            raise CameraError(f"triangulation needs at least 2 cameras, the rig has {self.views}")
        centres = self.extrinsics[:, :3, 3]
        gaps = torch.cdist(centres, centres) + torch.eye(self.views, device=self.device) * 1e9
        if gaps.min() < 1e-3:
            raise CameraError("two cameras of the rig share one optical centre (< 1 mm apart)")

    def projection_matrices(self) -> torch.Tensor:
        """(V, 3, 4) P = K [R^T | -R^T c]: base-frame points to homogeneous pixels."""
        rotation, centre = self.extrinsics[:, :3, :3], self.extrinsics[:, :3, 3:]
        world_to_camera = torch.cat(
            [rotation.transpose(1, 2), -rotation.transpose(1, 2) @ centre], 2
        )
        return self.intrinsics @ world_to_camera

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Base-frame points (..., 3) to pixels (..., V, 2) and depths (..., V)."""
        homogeneous = torch.cat([points, torch.ones_like(points[..., :1])], -1)
        pixels = torch.einsum("vij,...j->...vi", self.projection_matrices(), homogeneous)
        depth = pixels[..., 2]
        safe = torch.where(depth.abs() < 1e-9, torch.full_like(depth, 1e-9), depth)
        return pixels[..., :2] / safe[..., None], depth

    def inside(
        self, pixels: torch.Tensor, depth: torch.Tensor, margin: float = 0.0
    ) -> torch.Tensor:
        """Whether pixels (..., V, 2) with depths (..., V) are in front of and inside each view."""
        u, v = pixels[..., 0], pixels[..., 1]
        return (
            (depth > 0)
            & (u >= -0.5 + margin)
            & (u <= self.width - 0.5 - margin)
            & (v >= -0.5 + margin)
            & (v <= self.height - 0.5 - margin)
        )

    def rays(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels (..., V, 2) to ray origins (V, 3) and unit directions (..., V, 3), base frame."""
        homogeneous = torch.cat([pixels, torch.ones_like(pixels[..., :1])], -1)
        in_camera = torch.einsum("vij,...vj->...vi", torch.linalg.inv(self.intrinsics), homogeneous)
        directions = torch.einsum("vij,...vj->...vi", self.extrinsics[:, :3, :3], in_camera)
        return self.extrinsics[:, :3, 3], directions / directions.norm(dim=-1, keepdim=True)

    def triangulate(
        self, pixels: torch.Tensor, weights: torch.Tensor, iterations: int = 3
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted multi-view triangulation of pixels (..., V, 2) with weights (..., V) >= 0.

        A weighted DLT gives the initial point, then Gauss-Newton steps minimise the weighted
        squared reprojection error. Returns points (..., 3) and the weighted RMS reprojection
        error in pixels (...). Points seen with positive weight in fewer than two views come back
        as NaN: the caller decides what an untriangulable point means.
        """
        if self.intrinsics.dtype != torch.float64:  # solve in double precision, always
            rig = self.to(self.device, torch.float64)
            points, rms = rig.triangulate(pixels.double(), weights.double(), iterations)
            return points.to(pixels.dtype), rms.to(pixels.dtype)
        projections = self.projection_matrices()
        rows_u = pixels[..., 0:1] * projections[:, 2] - projections[:, 0]  # (..., V, 4)
        rows_v = pixels[..., 1:2] * projections[:, 2] - projections[:, 1]
        system = torch.cat([rows_u, rows_v], -2)  # (..., 2V, 4)
        system = system / system.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        system = system * torch.cat([weights, weights], -1)[..., None]
        _, _, vh = torch.linalg.svd(system)
        solution = vh[..., -1, :]
        points = solution[..., :3] / solution[..., 3:4]
        for _ in range(iterations):
            points = self._gauss_newton_step(points, pixels, weights)
        residual = (self.project(points)[0] - pixels).pow(2).sum(-1)
        rms = (residual * weights).sum(-1) / weights.sum(-1).clamp_min(1e-12)
        usable = (weights > 0).sum(-1) >= 2
        nan = torch.full_like(points, float("nan"))
        return torch.where(usable[..., None], points, nan), rms.sqrt()

    def _gauss_newton_step(
        self, points: torch.Tensor, pixels: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        eps = 1e-6
        projected, _ = self.project(points)
        error = (projected - pixels) * weights[..., None].sqrt()  # (..., V, 2)
        columns = []
        for axis in range(3):
            shifted = points.clone()
            shifted[..., axis] += eps
            columns.append((self.project(shifted)[0] - projected) / eps)
        jacobian = torch.stack(columns, -1) * weights[..., None, None].sqrt()  # (..., V, 2, 3)
        jacobian = jacobian.flatten(-3, -2)
        error = error.flatten(-2)
        normal = jacobian.transpose(-1, -2) @ jacobian
        scale = normal.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None] / 3 + 1.0
        normal = normal + 1e-9 * scale * torch.eye(3, dtype=points.dtype, device=points.device)
        step = torch.linalg.solve(normal, (jacobian.transpose(-1, -2) @ error[..., None]))[..., 0]
        return points - step
