"""Video encoder: time-resolved clips of every short-axis slice and long-axis view -> one study
embedding (and one embedding per clip, to tell which slice drove a finding).

Each clip (T, H, W) goes through the same factorised (2+1)D convolutional network; temporal
convolutions pad circularly because the cardiac cycle wraps. Clip tokens get a slice-position
or view embedding and are pooled by learned attention, with absent long-axis views masked out.
"""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class VideoConfig:
    sax_slices: int = 8
    lax_views: int = 1
    frames: int = 16
    crop_px: int = 64
    channels: tuple[int, int, int] = (16, 32, 64)
    stem_stride: int = 2  # spatial downsampling of the first layer (kernel 2 * stride + 1)
    width: int = 128  # clip token width
    embed_dim: int = 128
    single_frame: bool = False  # ablation: same network, end-diastolic frame only


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class Conv2Plus1D(nn.Module):
    """Spatial 3x3 conv, then temporal k=3 conv (circular): cheaper than 3D and as expressive."""

    def __init__(self, c_in: int, c_out: int, spatial_stride: int, temporal_stride: int):
        super().__init__()
        self.spatial = nn.Conv3d(
            c_in, c_out, (1, 3, 3), (1, spatial_stride, spatial_stride), (0, 1, 1), bias=False
        )
        self.norm1 = _norm(c_out)
        self.temporal = nn.Conv3d(
            c_out,
            c_out,
            (3, 1, 1),
            (temporal_stride, 1, 1),
            (1, 0, 0),
            bias=False,
            padding_mode="circular",
        )
        self.norm2 = _norm(c_out)
        self.act = nn.GELU()
        needs_projection = c_in != c_out or spatial_stride > 1 or temporal_stride > 1
        self.shortcut = (
            nn.Conv3d(c_in, c_out, 1, (temporal_stride, spatial_stride, spatial_stride), bias=False)
            if needs_projection
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, T, H, W)
        y = self.act(self.norm1(self.spatial(x)))
        y = self.norm2(self.temporal(y))
        return self.act(y + self.shortcut(x))


class ClipEncoder(nn.Module):
    """One clip (N, 1, T, H, W) -> token (N, width)."""

    def __init__(self, cfg: VideoConfig):
        super().__init__()
        c0, c1, c2 = cfg.channels
        s = cfg.stem_stride
        self.stem = nn.Sequential(
            nn.Conv3d(1, c0, (1, 2 * s + 1, 2 * s + 1), (1, s, s), (0, s, s), bias=False),
            _norm(c0),
            nn.GELU(),
        )
        self.blocks = nn.Sequential(
            Conv2Plus1D(c0, c1, spatial_stride=2, temporal_stride=2),
            Conv2Plus1D(c1, c2, spatial_stride=2, temporal_stride=2),
            Conv2Plus1D(c2, c2, spatial_stride=1, temporal_stride=1),
        )
        self.head = nn.Linear(c2, cfg.width)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(clips))  # (N, C2, T/4, H/(4 stride), W/(4 stride))
        return self.head(x.mean(dim=(2, 3, 4)))  # (N, width)


class VideoEncoder(nn.Module):
    def __init__(self, cfg: VideoConfig):
        super().__init__()
        self.cfg = cfg
        self.clip_encoder = ClipEncoder(cfg)
        self.slice_position = nn.Parameter(torch.zeros(cfg.sax_slices, cfg.width))
        self.lax_view = nn.Parameter(torch.zeros(cfg.lax_views, cfg.width))
        self.query = nn.Parameter(torch.randn(cfg.width) * cfg.width**-0.5)
        self.norm = nn.LayerNorm(cfg.width)
        self.project = nn.Linear(cfg.width, cfg.embed_dim)
        nn.init.normal_(self.slice_position, std=0.02)
        nn.init.normal_(self.lax_view, std=0.02)

    def forward(
        self, sax: torch.Tensor, lax: torch.Tensor, lax_present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """sax (B, S, T, H, W), lax (B, V, T, H, W), lax_present (B, V) bool/0-1.

        Returns the study embedding (B, embed_dim) and per-clip embeddings (B, S + V,
        embed_dim), neither normalised (the CLIP head normalises).
        """
        if self.cfg.single_frame:
            sax, lax = sax[:, :, :1], lax[:, :, :1]  # end-diastole only
        b, s, t, h, w = sax.shape
        v = lax.shape[1]
        clips = torch.cat([sax, lax], dim=1).reshape(b * (s + v), 1, t, h, w)
        tokens = self.clip_encoder(clips).reshape(b, s + v, -1)  # (B, S+V, width)
        tokens = tokens + torch.cat([self.slice_position, self.lax_view], dim=0)[None]
        tokens = self.norm(tokens)
        present = torch.cat([torch.ones_like(lax_present[:, :1]).expand(b, s), lax_present], dim=1)
        scores = tokens @ self.query / self.cfg.width**0.5  # (B, S+V)
        scores = scores.masked_fill(present.to(torch.bool).logical_not(), -1e4)
        weights = torch.softmax(scores, dim=1)  # (B, S+V)
        study = (weights.unsqueeze(-1) * tokens).sum(dim=1)  # (B, width)
        return self.project(study), self.project(tokens)
