"""Preprocessing operations on arrays with known answers."""

import numpy as np
import pytest

from app.preprocess.ops import (
    crop_resample,
    interpolate_slices,
    normalize_intensity,
    resample_cycle,
)


def _cosine_clip(trigger_ms: np.ndarray, rr_ms: float) -> np.ndarray:
    phase = trigger_ms / rr_ms
    return np.cos(2 * np.pi * phase).astype(np.float32)[:, None, None] * np.ones(
        (1, 2, 3), np.float32
    )


@pytest.mark.parametrize("rr_ms", [700.0, 1000.0])
def test_resample_cycle_samples_one_cycle_whatever_the_acquisition(rr_ms):
    trigger_ms = 12.0 + np.arange(40) * rr_ms / 40  # delayed start, 40 phases
    out = resample_cycle(_cosine_clip(trigger_ms, rr_ms), trigger_ms, rr_ms, frames=16)
    assert out.shape == (16, 2, 3) and out.dtype == np.float32
    expected = np.cos(2 * np.pi * np.arange(16) / 16)
    np.testing.assert_allclose(out[:, 0, 0], expected, atol=0.015)


def test_resample_cycle_ignores_input_order():
    rr_ms = 800.0
    trigger_ms = np.arange(25) * rr_ms / 25
    clip = _cosine_clip(trigger_ms, rr_ms)
    order = np.random.default_rng(0).permutation(25)
    np.testing.assert_array_equal(
        resample_cycle(clip, trigger_ms, rr_ms, 16),
        resample_cycle(clip[order], trigger_ms[order], rr_ms, 16),
    )


def test_resample_cycle_keeps_exact_samples_and_interpolates_between():
    rr_ms = 1000.0
    trigger_ms = np.array([0.0, 250.0, 500.0, 750.0])
    clip = np.array([0.0, 1.0, 2.0, 3.0], np.float32)[:, None, None]
    out = resample_cycle(clip, trigger_ms, rr_ms, frames=8)[:, 0, 0]
    # between the last phase and the first one the cycle wraps: 3 -> 0
    np.testing.assert_allclose(out, [0, 0.5, 1, 1.5, 2, 2.5, 3, 1.5])


def test_crop_resample_centres_a_point_and_changes_pixel_size():
    image = np.zeros((1, 100, 120), np.float32)
    image[0, 40, 70] = 1.0
    crop = crop_resample(image, (40.0, 70.0), (1.0, 1.0), pixel_mm=2.0, crop_px=9)
    assert crop.shape == (1, 9, 9)
    assert np.unravel_index(np.argmax(crop[0]), (9, 9)) == (4, 4)
    # outside the image is zero, not an edge replica
    edge = crop_resample(np.ones((1, 10, 10), np.float32), (0.0, 0.0), (1.0, 1.0), 1.0, 8)
    assert edge[0, 0, 0] == 0 and edge[0, -1, -1] == 1


def test_interpolate_slices_keeps_ends_and_spacing():
    stack = np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
    out = interpolate_slices(stack, 9)
    np.testing.assert_allclose(out[:, 0], np.linspace(0, 4, 9))
    assert interpolate_slices(stack[:1], 3).shape == (3, 4)


def test_normalize_intensity_is_robust_to_outliers():
    rng = np.random.default_rng(0)
    volume = rng.normal(100, 10, (4, 32, 32)).astype(np.float32)
    volume[0, 0, 0] = 1e6  # one hot pixel must not compress the range
    out = normalize_intensity(volume, (1.0, 99.5))
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1.5
    assert 0.4 < float(np.median(out)) < 0.6
