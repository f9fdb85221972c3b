"""Array operations of preprocessing. Each takes and returns numpy arrays with the shapes given;
all are deterministic and float32."""

import numpy as np
from scipy import ndimage

from app.dicom.ingest import resample_cyclic


def resample_cycle(
    clip: np.ndarray, trigger_times_ms: np.ndarray, rr_interval_ms: float, frames: int
) -> np.ndarray:
    """Resample one slice's phases to `frames` evenly spaced points of one cardiac cycle.

    clip (T, H, W), trigger_times_ms (T,) -> (frames, H, W). Linear and cyclic: the cycle's end
    wraps to its start, so the result never depends on where the acquisition window ended.
    """
    phase = np.mod(np.asarray(trigger_times_ms, dtype=np.float64) / rr_interval_ms, 1.0)
    order = np.argsort(phase, kind="stable")
    targets = np.arange(frames) / frames
    return resample_cyclic(clip[order], phase[order], targets, 1.0).astype(np.float32)


def locate_heart(clips: np.ndarray, pixel_spacing_mm: tuple[float, float]) -> tuple[float, float]:
    """Centre (row, column) in pixels of what beats. clips (S, T, H, W).

    The heart is the only large structure whose signal changes over the cycle. Per slice, the
    pixels in the top 15 % of temporal standard deviation vote; votes are averaged over slices,
    smoothed at 20 mm and weighted by a broad prior for the image centre. Voting by rank, not
    by amplitude, matters on real scans: bright epicardial fat sliding at the heart's edge has
    the largest deviation of all and pulled an amplitude-weighted centre 5 cm off (Sunnybrook).
    """
    motion = clips.std(axis=1)  # (S, H, W)
    thresholds = np.percentile(motion.reshape(motion.shape[0], -1), 85, axis=1)
    votes = (motion > thresholds[:, None, None]).mean(axis=0, dtype=np.float32)  # (H, W)
    sigma = (20.0 / pixel_spacing_mm[0], 20.0 / pixel_spacing_mm[1])
    smooth = ndimage.gaussian_filter(votes, sigma)
    rows, cols = smooth.shape
    r = (np.arange(rows) - (rows - 1) / 2) / (0.5 * rows)
    c = (np.arange(cols) - (cols - 1) / 2) / (0.5 * cols)
    prior = np.exp(-0.5 * (r[:, None] ** 2 + c[None, :] ** 2))
    weighted = smooth * prior
    # Centre of the moving region, not its peak: in a failing LV the RV moves most, and the
    # peak sat on the RV; the region's centroid stays between the ventricles.
    region, _ = ndimage.label(weighted >= 0.5 * weighted.max())
    peak = region == region.flat[int(np.argmax(weighted))]
    row, col = ndimage.center_of_mass(np.where(peak, weighted, 0))
    return float(row), float(col)


def crop_resample(
    frames: np.ndarray,
    centre_px: tuple[float, float],
    pixel_spacing_mm: tuple[float, float],
    pixel_mm: float,
    crop_px: int,
) -> np.ndarray:
    """Square crop of crop_px x crop_px output pixels of size pixel_mm around centre_px,
    sampled bilinearly from frames (N, H, W); outside the image is 0. -> (N, crop_px, crop_px).

    The sampling grid is separable, so bilinear interpolation is four gathers from a
    zero-padded window: 5x faster than map_coordinates over the same points.
    """
    offsets = (np.arange(crop_px) - (crop_px - 1) / 2) * pixel_mm
    rows = centre_px[0] + offsets / pixel_spacing_mm[0]
    cols = centre_px[1] + offsets / pixel_spacing_mm[1]
    row_lo, col_lo = np.floor(rows).astype(int), np.floor(cols).astype(int)
    row_w = (rows - row_lo).astype(np.float32)[:, None]
    col_w = (cols - col_lo).astype(np.float32)[None, :]
    r0, c0 = int(row_lo.min()), int(col_lo.min())
    window = np.zeros((frames.shape[0], row_lo.max() - r0 + 2, col_lo.max() - c0 + 2), np.float32)
    height, width = frames.shape[1:]
    src_r = slice(max(r0, 0), min(r0 + window.shape[1], height))
    src_c = slice(max(c0, 0), min(c0 + window.shape[2], width))
    if src_r.start < src_r.stop and src_c.start < src_c.stop:
        window[:, src_r.start - r0 : src_r.stop - r0, src_c.start - c0 : src_c.stop - c0] = frames[
            :, src_r, src_c
        ]
    r = (row_lo - r0)[:, None]
    c = (col_lo - c0)[None, :]
    upper = window[:, r, c] * (1 - col_w) + window[:, r, c + 1] * col_w
    lower = window[:, r + 1, c] * (1 - col_w) + window[:, r + 1, c + 1] * col_w
    return (upper * (1 - row_w) + lower * row_w).astype(np.float32)


def interpolate_slices(stack: np.ndarray, count: int) -> np.ndarray:
    """Resample a stack (S, ...) to `count` slices evenly spaced from its first to its last
    slice (linear between neighbours). -> (count, ...)."""
    slices = stack.shape[0]
    if slices == 1:
        return np.repeat(stack, count, axis=0)
    position = np.linspace(0, slices - 1, count)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, slices - 1)
    weight = (position - lower).astype(np.float32).reshape(-1, *([1] * (stack.ndim - 1)))
    return (stack[lower] * (1 - weight) + stack[upper] * weight).astype(np.float32)


def normalize_intensity(volume: np.ndarray, percentiles: tuple[float, float]) -> np.ndarray:
    """Map the robust range [p_low, p_high] to [0, 1] and clip to [0, 1.5]; any shape."""
    low, high = np.percentile(volume, percentiles)
    scale = float(high - low) if high > low else 1.0
    return np.clip((volume - low) / scale, 0.0, 1.5).astype(np.float32)
