"""Augmentations that respect physiology: intensity, noise, small rotations and scaling, and a
cyclic shift within the cardiac cycle. Time is never reversed or rescaled."""

import math

import torch
import torch.nn.functional as F


def _affine(views: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random rotation (+-10 deg), scale (0.9-1.1) and shift (+-4 %) for a whole view
    (N, T, H, W): every slice and frame moves together, as a patient would."""
    n, t, h, w = views.shape
    angle = math.radians(float(torch.empty(1).uniform_(-10, 10, generator=generator)))
    scale = float(torch.empty(1).uniform_(0.9, 1.1, generator=generator))
    shift = torch.empty(2).uniform_(-0.04, 0.04, generator=generator)
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[cos, -sin, float(shift[0])], [sin, cos, float(shift[1])]])
    frames = views.reshape(n * t, 1, h, w)
    grid = F.affine_grid(theta.expand(n * t, 2, 3), list(frames.shape), align_corners=False)
    moved = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved.reshape(n, t, h, w)


def augment(
    sax: torch.Tensor, lax: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """sax (S, T, H, W), lax (V, T, H, W) float32 in [0, 1.5] -> augmented copies."""
    shift = int(torch.randint(-1, 2, (1,), generator=generator))  # frames, same for all views
    out = []
    for views in (sax, lax):
        views = torch.roll(views, shifts=shift, dims=1)
        views = _affine(views, generator)
        gamma = float(torch.empty(1).uniform_(0.8, 1.25, generator=generator))
        gain = float(torch.empty(1).uniform_(0.9, 1.1, generator=generator))
        sigma = float(torch.empty(1).uniform_(0.0, 0.03, generator=generator))
        views = gain * views.clamp(min=0) ** gamma
        views = views + sigma * torch.randn(views.shape, generator=generator)
        out.append(views.clamp(0, 1.5))
    return out[0], out[1]


def key_frames_only(sax: torch.Tensor, lax: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A cine cut to its key frames, as an archive that keeps only end-diastole and end-systole
    gives it after preprocessing: frame 0 (end-diastole, where the cycle starts) and the frame
    of least blood signal in the centre of the mid short-axis slice (end-systole), with every
    other frame the cyclic linear blend between the two that `resample_cycle` makes of a
    two-phase study. sax (S, T, H, W), lax (V, T, H, W) -> the same shapes."""
    s, t, h, w = sax.shape
    centre = sax[s // 2, :, h // 2 - h // 8 : h // 2 + h // 8, w // 2 - w // 8 : w // 2 + w // 8]
    es = int(torch.argmin(centre.mean(dim=(1, 2))[1:])) + 1  # never frame 0 itself
    position = torch.arange(t, dtype=torch.float32)
    toward_es = torch.where(position <= es, position / es, (t - position) / (t - es))  # (T,)
    weight = toward_es.view(1, t, 1, 1)

    def blend(views: torch.Tensor) -> torch.Tensor:
        return (1 - weight) * views[:, :1] + weight * views[:, es : es + 1]

    return blend(sax), blend(lax)
