"""Image formation: tissue fractions -> SSFP-like signal -> coil bias, Rician noise -> stored
integers, as a scanner would write them."""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from app.synth.heart import HeartModel
from app.synth.scene import HeartPlacement, Plane, coil_sensitivity, surroundings


@dataclass(frozen=True)
class Contrast:
    """Steady-state free precession signal of each tissue relative to blood (= 1)."""

    myocardium: float
    fat: float
    soft_tissue: float
    fluid: float
    pericardium: float


@dataclass(frozen=True)
class RenderedPlane:
    signal: np.ndarray  # float32 (T, H, W), noiseless, relative to blood
    lv_blood_mm2: np.ndarray  # float64 (T,): LV cavity area from the rendered fractions
    rv_blood_mm2: np.ndarray  # float64 (T,)


def _heart_box(u: np.ndarray, v: np.ndarray, h: np.ndarray, model: HeartModel) -> tuple[slice, ...]:
    """Rows/columns that can contain heart or pericardium: everything else is static."""
    outer = model.radius_ed + model.params.wall_mm
    reach = 2.9 * outer + model.params.effusion_mm + 10
    near = (np.hypot(u + 0.9 * outer, v) < reach) & (h > -30) & (h < model.length_ed + 80)
    rows, cols = np.nonzero(near)
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)


def _texture(
    rng: np.random.Generator, plane: Plane, amplitude: float, scale_mm: float
) -> np.ndarray:
    """Smooth multiplicative heterogeneity (1 +- amplitude, float32 (H, W)): vessels and fat
    streaks in still tissue; slow-flow and trabecular signal variation in the blood pool."""
    noise = rng.standard_normal((plane.size, plane.size), dtype=np.float32)
    field = ndimage.gaussian_filter(noise, scale_mm / plane.pixel_mm)
    return 1 + amplitude * field / max(float(field.std()), 1e-6)


def render_plane(
    model: HeartModel,
    placement: HeartPlacement,
    plane: Plane,
    phases: np.ndarray,
    contrast: Contrast,
    heart_shift_mm: np.ndarray,
    rng: np.random.Generator,
) -> RenderedPlane:
    """Noiseless signal of one plane at each cycle phase (T,), with the heart shifted in-plane
    by `heart_shift_mm` (u, v) to mimic breath-hold misregistration between slices."""
    points = plane.points()
    static = surroundings(points, contrast.soft_tissue, contrast.fat)
    static *= _texture(rng, plane, amplitude=0.08, scale_mm=3.0)
    # Real blood pools are far from flat (CV ~0.25 in the Sunnybrook case: slow flow near the
    # walls, trabeculae); a static field is a first approximation of that.
    blood_texture = np.clip(_texture(rng, plane, amplitude=0.18, scale_mm=5.0), 0.3, None)
    u, v, h = placement.heart_coordinates(points)
    u = u - np.float32(heart_shift_mm[0])
    v = v - np.float32(heart_shift_mm[1])
    box = _heart_box(u, v, h, model)
    u, v, h = u[box], v[box], h[box]
    background = static[box]
    blood_texture = blood_texture[box]
    pixel_area = plane.pixel_mm**2
    signal = np.repeat(static[None], len(phases), axis=0)
    lv_area = np.zeros(len(phases))
    rv_area = np.zeros(len(phases))
    sampler = model.sampler(u, v, h, plane.pixel_mm)
    for t, phase in enumerate(phases):
        f = sampler.at(float(phase))
        blood = f.lv_blood + f.rv_blood + f.atrial_blood
        tissue = (
            blood * blood_texture
            - (blood_texture - contrast.myocardium) * f.papillary
            + contrast.myocardium * f.myocardium
            + contrast.fluid * f.fluid
            + contrast.pericardium * f.pericardium
        )
        occupied = np.clip(blood + f.myocardium + f.fluid + f.pericardium, 0, 1)
        signal[t][box] = background * (1 - occupied) + tissue
        lv_area[t] = float(f.lv_blood.sum()) * pixel_area
        rv_area[t] = float(f.rv_blood.sum()) * pixel_area
    return RenderedPlane(signal, lv_area, rv_area)


def _noise_pair(
    rng: np.random.Generator, shape: tuple[int, ...], sigma: np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """White Gaussian noise for the real and imaginary channels of every frame.

    Drawing 2 x T x H x W normals dominated generation time, so frames take randomly rolled
    copies of a small bank: still white, independent-looking frame to frame, 8x cheaper.
    """
    frames, rows, cols = shape
    bank = sigma * rng.standard_normal((2, 4, rows, cols), dtype=np.float32)
    picks = rng.integers(0, 4, size=(2, frames))
    shifts = rng.integers(0, [rows, cols], size=(2, frames, 2))
    noise = np.empty((2, *shape), dtype=np.float32)
    for channel in range(2):
        for t in range(frames):
            noise[channel, t] = np.roll(
                bank[channel, picks[channel, t]], shifts[channel, t], (0, 1)
            )
    return noise[0], noise[1]


def acquire(
    signal: np.ndarray,
    plane: Plane,
    rng: np.random.Generator,
    *,
    snr: float,
    bias_strength: float,
    blood_level: float,
    rescale_slope: float,
    signed: bool,
) -> np.ndarray:
    """Coil bias, complex Gaussian noise taken to magnitude (Rician), then stored integers.

    signal: float32 (T, H, W) relative to blood. Returns int16 or uint16 (T, H, W), 12-bit.
    """
    biased = signal * coil_sensitivity(plane.points(), bias_strength)[None]
    real, imag = _noise_pair(rng, biased.shape, np.float32(1.0 / snr))
    real += biased
    magnitude = np.sqrt(real * real + imag * imag)
    stored = np.clip(np.rint(magnitude * (blood_level / rescale_slope)), 0, 4095)
    return stored.astype(np.int16 if signed else np.uint16)
