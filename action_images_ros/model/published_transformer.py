"""The published Action Images transformer: Wan 2.2 TI2V-5B with a camera encoder per block.

This is the architecture of the released checkpoint (`anyeZHY/ActionImages`, see
`import_checkpoint`), on diffusers' `WanTransformer3DModel` and its blocks; only the block
loop is ours, because the published model adds two modules to every block:

- `cam_encoder` = AdaptiveAvgPool3d((C, P, P)) -> Flatten(2) -> Linear(C * P * P -> dim): the
  camera latents of a latent frame (2C channels: the VAE latents of the Plücker ray directions
  and moments, see `encode_camera_latents`) pooled to one vector per latent frame, broadcast over
  that frame's tokens and added to the AdaLN-modulated norm1(x) before self-attention;
- `projector` = Linear(dim -> dim) on the self-attention output (after its output projection),
  before the gate.

Token layout (published): the latents of every segment joined along time, view-major
[v1 RGB | v1 action | v2 RGB | v2 action], so the rotary time index runs 0 .. 4f - 1 across all
segments; each view's camera latents go with both of its segments. Conditioning (published):
given latents overwrite the canvas (the pipeline does that) and every token shares one timestep
(`shared_timestep`, the one the released weights were trained with: the largest of the frames'
timesteps, i.e. the noise level of the generated frames). With `shared_timestep=False` every
token gets its frame's timestep (given frames 0), our own training's convention.
"""

from __future__ import annotations

import torch
from diffusers import WanTransformer3DModel
from diffusers.configuration_utils import register_to_config
from torch import nn

from action_images_ros.core.cameras import CameraRig
from action_images_ros.model.denoisers import (
    Denoiser,
    ModelShapeError,
    compressed_segment_shape,
    register_denoiser,
)
from action_images_ros.model.latent_space import ClipSpace

RAY_MOMENT_SCALE = 3.0  # the published rays' moment is divided by this

# The released checkpoint's transformer (Wan 2.2 TI2V-5B) at the published clip size.
RELEASED_CONFIG: dict[str, object] = dict(
    views=2,
    frames=41,
    height=512,
    width=512,
    num_layers=30,
    num_attention_heads=24,
    attention_head_dim=128,
    ffn_dim=14336,
    text_dim=4096,
    freq_dim=256,
    num_tasks=1,
    latent_channels=48,
    spatial_compression=16,
    temporal_compression=4,
    patch_size=2,
    camera_pool_size=16,
    shared_timestep=True,
)


@register_denoiser
class PublishedTransformerDenoiser(Denoiser):
    """The published transformer (see the module docstring) as a denoiser.

    `frames`, `height`, `width`: the pixel clips; the transformer sees 1 + (frames - 1) /
    `temporal_compression` latent frames of (height, width) / `spatial_compression` cells with
    `latent_channels` channels. `camera_pool_size`: the cam_encoder's pooled grid (16 in the
    release: 32 x 32 latent cells at 512 px pooled 2 x 2). Its `rays` input is the camera
    latents (B, V, f, h, w, 2 * latent_channels) that `encode_camera_latents` makes from
    pixel-resolution rays (`camera_rays`); the pipeline does both.
    """

    rays_in_pixels = True  # the pipeline gives pixel-resolution rays, see `camera_conditioning`

    @register_to_config
    def __init__(
        self,
        views: int = 2,
        frames: int = 5,
        height: int = 32,
        width: int = 32,
        num_layers: int = 2,
        num_attention_heads: int = 2,
        attention_head_dim: int = 16,
        ffn_dim: int = 64,
        text_dim: int = 32,
        freq_dim: int = 32,
        num_tasks: int = 1,
        latent_channels: int = 4,
        spatial_compression: int = 16,
        temporal_compression: int = 4,
        patch_size: int = 2,
        camera_pool_size: int = 1,
        shared_timestep: bool = True,
        prediction: str = "velocity",
    ) -> None:
        super().__init__()
        self._build_common()
        self.latent_shape  # noqa: B018 - validates frames against the temporal compression
        self.transformer = WanTransformer3DModel(
            patch_size=(1, patch_size, patch_size),
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=latent_channels,
            out_channels=latent_channels,
            text_dim=text_dim,
            freq_dim=freq_dim,
            ffn_dim=ffn_dim,
            num_layers=num_layers,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            eps=1e-6,
            rope_max_seq_len=1024,
        )
        dim = num_attention_heads * attention_head_dim
        pooled = (latent_channels, camera_pool_size, camera_pool_size)
        for block in self.transformer.blocks:
            block.cam_encoder = nn.Sequential(
                nn.AdaptiveAvgPool3d(pooled),
                nn.Flatten(start_dim=2),
                nn.Linear(latent_channels * camera_pool_size**2, dim),
            )
            block.projector = nn.Linear(dim, dim)
            # The published initialisation: no camera, identity projector.
            nn.init.zeros_(block.cam_encoder[2].weight)
            nn.init.zeros_(block.cam_encoder[2].bias)
            nn.init.eye_(block.projector.weight)
            nn.init.zeros_(block.projector.bias)
        self._camera_cache: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """(frames, height, width, channels) of one segment as the transformer sees it."""
        return compressed_segment_shape(self.config)

    @property
    def in_pixel_space(self) -> bool:
        return False

    def camera_rays(self, rig: CameraRig) -> torch.Tensor:
        """(1, V, H, W, 6) published rays of `rig` at the model's pixel size (`published_rays`)."""
        return published_rays(rig, self.config.height, self.config.width)[None]

    def camera_conditioning(self, rays: torch.Tensor, space: ClipSpace) -> torch.Tensor:
        """Camera latents for pixel-resolution `rays` (B, V, H, W, 6) through the VAE of
        `space`, kept for the next call with the same rays (cameras rarely move)."""
        cached = self._camera_cache
        if cached is not None and cached[0].shape == rays.shape and torch.equal(cached[0], rays):
            return cached[1]
        latents = encode_camera_latents(space, rays, self.config.frames).to(self.dtype)
        self._camera_cache = (rays.clone(), latents)
        return latents

    def network(
        self,
        clips: torch.Tensor,
        timesteps: torch.Tensor,
        rays: torch.Tensor,
        context: torch.Tensor,
    ) -> torch.Tensor:
        batch, views, kinds, frames, height, width, channels = clips.shape
        expected = (batch, views, frames, height, width, 2 * channels)
        if tuple(rays.shape) != expected:
            raise ModelShapeError(
                f"camera latents must be {expected} (batch, views, latent frames, height, width, "
                f"direction + moment channels), got {tuple(rays.shape)}"
            )
        # (B, V, 2, f, h, w, C) -> (B, C, V*2*f, h, w): the published segment order.
        hidden = clips.permute(0, 6, 1, 2, 3, 4, 5).reshape(batch, channels, -1, height, width)
        cameras = rays[:, :, None].expand(batch, views, kinds, *rays.shape[2:])
        cameras = cameras.reshape(batch, -1, height, width, 2 * channels).permute(0, 1, 4, 2, 3)
        if self.config.shared_timestep:
            timestep = timesteps.reshape(batch, -1).amax(dim=1)
        else:
            patch = self.config.patch_size
            per_frame = (height // patch) * (width // patch)
            timestep = timesteps.reshape(batch, -1).repeat_interleave(per_frame, dim=1)
        out = self.transformer_forward(hidden, timestep, context, cameras.to(hidden.dtype))
        out = out.reshape(batch, channels, views, kinds, frames, height, width)
        return out.permute(0, 2, 3, 4, 5, 6, 1)

    def transformer_forward(
        self,
        hidden: torch.Tensor,
        timestep: torch.Tensor,
        context: torch.Tensor,
        cameras: torch.Tensor,
    ) -> torch.Tensor:
        """WanTransformer3DModel.forward with the published camera path in every block.

        `hidden` (B, C, T, h, w) latents, `timestep` (B,) or per token (B, L), `context`
        (B, S, text_dim), `cameras` (B, T, 2C, h, w). Returns (B, C, T, h, w)."""
        model = self.transformer
        batch, _, frames, height, width = hidden.shape
        _, p_h, p_w = model.config.patch_size
        grid_h, grid_w = height // p_h, width // p_w
        rotary = model.rope(hidden)
        x = model.patch_embedding(hidden).flatten(2).transpose(1, 2).contiguous()
        per_token = timestep.ndim == 2
        temb, projection, context, _ = model.condition_embedder(
            timestep.flatten(),
            context,
            None,
            timestep_seq_len=timestep.shape[1] if per_token else None,
        )
        projection = projection.unflatten(2 if per_token else 1, (6, -1))
        for block in model.blocks:
            camera = block.cam_encoder(cameras)  # (B, T, dim): one vector per latent frame
            camera = camera.repeat_interleave(grid_h * grid_w, dim=1)
            x = published_block(block, x, context, projection, rotary, camera)
        if per_token:
            table = model.scale_shift_table.unsqueeze(0) + temb.unsqueeze(2)
            shift, scale = (t.squeeze(2) for t in table.chunk(2, dim=2))
        else:
            shift, scale = (model.scale_shift_table + temb.unsqueeze(1)).chunk(2, dim=1)
        x = (model.norm_out(x.float()) * (1 + scale) + shift).type_as(x)
        x = model.proj_out(x)
        x = x.reshape(batch, frames, grid_h, grid_w, 1, p_h, p_w, -1)
        return x.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)


def published_block(
    block: nn.Module,
    x: torch.Tensor,
    context: torch.Tensor,
    projection: torch.Tensor,
    rotary: tuple[torch.Tensor, torch.Tensor],
    camera: torch.Tensor,
) -> torch.Tensor:
    """One published block on a diffusers WanTransformerBlock (its modules, our order):
    self-attention of the modulated norm1(x) + camera, projector, gate; cross-attention of the
    affine-normed x, no gate; FFN of the modulated norm3(x), gated."""
    if projection.ndim == 4:  # per-token timesteps: (B, L, 6, dim)
        table = block.scale_shift_table.unsqueeze(0) + projection.float()
        parts = [t.squeeze(2) for t in table.chunk(6, dim=2)]
    else:
        parts = list((block.scale_shift_table + projection.float()).chunk(6, dim=1))
    shift, scale, gate, c_shift, c_scale, c_gate = parts
    normed = (block.norm1(x.float()) * (1 + scale) + shift).type_as(x) + camera.type_as(x)
    attended = block.projector(block.attn1(normed, None, None, rotary))
    x = (x.float() + attended * gate).type_as(x)
    x = x + block.attn2(block.norm2(x.float()).type_as(x), context, None, None)
    normed = (block.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
    return (x.float() + block.ffn(normed).float() * c_gate).type_as(x)


def published_rays(rig: CameraRig, height: int, width: int) -> torch.Tensor:
    """(V, H, W, 6) Plücker rays at every pixel of `rig` resized to `width` x `height`, as the
    published training made them: poses relative to view 0 (inv(T_0) @ T_v), direction
    normalize(R K^-1 [u, v, 1]) through each pixel's centre, moment t x d divided by 3.

    Pixel (row i, column j) has its centre at u = j, v = i in this package's intrinsics, which
    is the published (j + 0.5, i + 0.5) with its half-pixel principal point."""
    scaled = rig.resized(width, height)
    k, poses = scaled.intrinsics.double(), scaled.extrinsics.double()
    relative = torch.linalg.inv(poses[0])[None] @ poses
    v, u = torch.meshgrid(
        torch.arange(height, dtype=k.dtype), torch.arange(width, dtype=k.dtype), indexing="ij"
    )
    x = (u[None] - k[:, 0, 2, None, None]) / k[:, 0, 0, None, None]
    y = (v[None] - k[:, 1, 2, None, None]) / k[:, 1, 1, None, None]
    camera = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # (V, H, W, 3)
    directions = torch.einsum("vij,vhwj->vhwi", relative[:, :3, :3], camera)
    directions = directions / directions.norm(dim=-1, keepdim=True)
    origins = relative[:, None, None, :3, 3].expand_as(directions)
    moments = torch.linalg.cross(origins, directions, dim=-1) / RAY_MOMENT_SCALE
    return torch.cat([directions, moments], dim=-1).float()


def encode_camera_latents(space: ClipSpace, rays: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, V, f, h, w, 2C) camera latents of pixel-resolution `rays` (B, V, H, W, 6): per view
    the ray directions and the moments, each a `frames`-frame video of a still camera, through
    the VAE of `space` like any segment (normalised the same way); direction latents first."""
    batch, views, height, width, _ = rays.shape
    videos = rays.reshape(batch, views, 1, height, width, 2, 3).permute(0, 1, 5, 2, 3, 4, 6)
    videos = videos.expand(batch, views, 2, frames, height, width, 3)
    # The space encodes clips in [0, 1] as 2 x - 1: hand it (ray + 1) / 2 to encode the ray.
    latents = space.encode((videos + 1) / 2)  # (B, V, 2, f, h, w, C)
    return torch.cat([latents[:, :, 0], latents[:, :, 1]], dim=-1)
