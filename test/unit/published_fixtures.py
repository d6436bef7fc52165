"""Shared by the released-model tests: a straightforward implementation of the published
Action Images DiT in the original Wan module layout (its state dict has the released file's key
names), and a tiny local "Wan2.2-TI2V-5B" base directory (VAE, T5 text encoder, tokenizer)."""

from __future__ import annotations

from pathlib import Path

import torch
from model_fixtures import write_toy_text_encoder, write_toy_vae
from torch import nn
from torch.nn import functional as F

EPS = 1e-6


def rope_table(head_dim: int, length: int = 1024) -> torch.Tensor:
    """Wan's complex rotary table: time, height and width frequencies side by side."""

    def params(dim: int) -> torch.Tensor:
        inverse = 1.0 / 10000 ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        angles = torch.outer(torch.arange(length, dtype=torch.float64), inverse)
        return torch.polar(torch.ones_like(angles), angles)

    side = 2 * (head_dim // 6)
    return torch.cat([params(head_dim - 2 * side), params(side), params(side)], dim=1)


def rope_apply(x: torch.Tensor, grid: tuple[int, int, int], table: torch.Tensor) -> torch.Tensor:
    """x (B, N, heads, d) rotated by its token's (frame, row, column) position."""
    batch, tokens, heads, dim = x.shape
    f, h, w = grid
    half = dim // 2
    time, rows, cols = table.split([half - 2 * (half // 3), half // 3, half // 3], dim=1)
    angles = torch.cat(
        [
            time[:f].view(f, 1, 1, -1).expand(f, h, w, -1),
            rows[:h].view(1, h, 1, -1).expand(f, h, w, -1),
            cols[:w].view(1, 1, w, -1).expand(f, h, w, -1),
        ],
        dim=-1,
    ).reshape(tokens, 1, -1)
    pairs = torch.view_as_complex(x.double().reshape(batch, tokens, heads, -1, 2))
    return torch.view_as_real(pairs * angles).flatten(3).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = nn.RMSNorm(dim, eps=EPS), nn.RMSNorm(dim, eps=EPS)

    def forward(self, x, context, grid=None, table=None) -> torch.Tensor:
        b, n, d = x.shape
        q = self.norm_q(self.q(x)).view(b, n, self.heads, -1)
        k = self.norm_k(self.k(context)).view(b, context.shape[1], self.heads, -1)
        v = self.v(context).view(b, context.shape[1], self.heads, -1)
        if table is not None:
            q, k = rope_apply(q, grid, table), rope_apply(k, grid, table)
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        )
        return self.o(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """The published block: Wan's attention block with the camera encoder and projector."""

    def __init__(self, dim: int, ffn: int, heads: int, channels: int, pool: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=EPS, elementwise_affine=False)
        self.self_attn = Attention(dim, heads)
        self.norm3 = nn.LayerNorm(dim, eps=EPS)
        self.cross_attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=EPS, elementwise_affine=False)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn), nn.GELU("tanh"), nn.Linear(ffn, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)
        self.cam_encoder = nn.Sequential(
            nn.AdaptiveAvgPool3d((channels, pool, pool)),
            nn.Flatten(start_dim=2),
            nn.Linear(channels * pool * pool, dim),
        )
        self.projector = nn.Linear(dim, dim)

    def forward(self, x, e, context, grid, table, camera) -> torch.Tensor:
        e = (self.modulation + e).chunk(6, dim=1)
        y = self.norm1(x) * (1 + e[1]) + e[0] + camera
        x = x + self.projector(self.self_attn(y, y, grid, table)) * e[2]
        x = x + self.cross_attn(self.norm3(x), context)
        return x + self.ffn(self.norm2(x) * (1 + e[4]) + e[3]) * e[5]


class Head(nn.Module):
    def __init__(self, dim: int, out: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=EPS, elementwise_affine=False)
        self.head = nn.Linear(dim, out)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def forward(self, x, e) -> torch.Tensor:
        shift, scale = (self.modulation + e.unsqueeze(1)).chunk(2, dim=1)
        return self.head(self.norm(x) * (1 + scale) + shift)


class PublishedDiT(nn.Module):
    """The published DiT with one shared timestep per sample, written out plainly."""

    def __init__(
        self,
        dim=32,
        heads=2,
        ffn=48,
        layers=2,
        channels=4,
        text_dim=16,
        freq_dim=32,
        patch=2,
        pool=1,
    ) -> None:
        super().__init__()
        self.dim, self.heads, self.patch, self.freq_dim = dim, heads, patch, freq_dim
        self.patch_embedding = nn.Conv3d(channels, dim, (1, patch, patch), (1, patch, patch))
        self.text_embedding = nn.Sequential(
            nn.Linear(text_dim, dim), nn.GELU("tanh"), nn.Linear(dim, dim)
        )
        self.time_embedding = nn.Sequential(
            nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim)
        )
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim * 6))
        self.blocks = nn.ModuleList(Block(dim, ffn, heads, channels, pool) for _ in range(layers))
        self.head = Head(dim, channels * patch * patch)

    def forward(self, x, t, context, cameras) -> torch.Tensor:
        """x (B, C, T, H, W) latents, t (B,), context (B, L, text_dim), cameras (B, T, 2C, H, W)."""
        batch, channels = x.shape[:2]
        x = self.patch_embedding(x)
        grid = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)
        half = self.freq_dim // 2
        angles = torch.outer(t.double(), 10000 ** (-torch.arange(half, dtype=torch.float64) / half))
        e = self.time_embedding(torch.cat([angles.cos(), angles.sin()], dim=1).float())
        e0 = self.time_projection(e).unflatten(1, (6, self.dim))
        context = self.text_embedding(context)
        table = rope_table(self.dim // self.heads)
        for block in self.blocks:
            camera = block.cam_encoder(cameras).repeat_interleave(grid[1] * grid[2], dim=1)
            x = block(x, e0, context, grid, table, camera)
        x = self.head(x, e)
        f, h, w, p = *grid, self.patch
        x = x.view(batch, f, h, w, 1, p, p, channels)
        x = torch.einsum("bfhwpqrc->bcfphqwr", x)
        return x.reshape(batch, channels, f, h * p, w * p)


def randomise_cameras(model: PublishedDiT, seed: int = 1) -> PublishedDiT:
    """Non-zero camera encoders and non-identity projectors (the release's are trained)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            for linear in (block.cam_encoder[2], block.projector):
                linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * 0.3)
                linear.bias.copy_(torch.randn(linear.bias.shape, generator=generator) * 0.1)
    return model


def write_base(path: Path, z_dim: int = 4, text_dim: int = 16, spatial: int = 16) -> Path:
    """A tiny local Wan 2.2 TI2V diffusers directory: vae/, text_encoder/, tokenizer/."""
    write_toy_vae(path, z_dim, spatial)
    return write_toy_text_encoder(path, text_dim)
