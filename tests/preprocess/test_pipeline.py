"""preprocess_study on the real Sunnybrook study and on synthetic studies."""

from pathlib import Path

import numpy as np
import pytest

from app.dicom.ingest import load_study
from app.preprocess import InputSpec, preprocess_study
from app.synth.study import synthesize_study


@pytest.fixture(scope="module")
def sunnybrook(realdata_dir: Path):
    return load_study(realdata_dir / "sunnybrook_SCD0000101" / "dicom")


def _lv_centre_from_contours(realdata_dir: Path) -> np.ndarray:
    """Mean (row, column) of the expert endocardial contours (x = column, y = row)."""
    folder = realdata_dir / "sunnybrook_SCD0000101" / "contours" / "i-contours"
    centres = [np.loadtxt(path).mean(axis=0)[::-1] for path in sorted(folder.glob("*.txt"))]
    return np.mean(centres, axis=0)


def test_heart_located_on_the_real_study(sunnybrook, realdata_dir):
    spec = InputSpec()
    model_input = preprocess_study(sunnybrook, spec)
    centre = np.array(model_input.heart_centre_px["sax"])
    error_mm = np.linalg.norm(centre - _lv_centre_from_contours(realdata_dir)) * 1.367188
    assert error_mm < 10, error_mm


def test_shapes_ranges_and_determinism(sunnybrook):
    spec = InputSpec(sax_slices=6, frames=12, crop_px=48, pixel_mm=2.5)
    first = preprocess_study(sunnybrook, spec)
    second = preprocess_study(sunnybrook, spec)
    assert first.sax.shape == (6, 12, 48, 48) and first.sax.dtype == np.float32
    assert first.lax.shape == (1, 12, 48, 48) and not first.lax_present.any()
    assert not first.lax.any()  # a missing view is zeros, flagged absent
    assert first.sax.min() >= 0 and first.sax.max() <= 1.5
    np.testing.assert_array_equal(first.sax, second.sax)


def test_the_heart_beats_in_the_model_input(sunnybrook):
    """Motion survives preprocessing: frames differ most in the crop's centre (the heart)."""
    sax = preprocess_study(sunnybrook, InputSpec()).sax
    motion = sax.std(axis=1).mean(axis=0)  # (H, W)
    h, w = motion.shape
    centre = motion[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].mean()
    border = np.concatenate([motion[: h // 8].ravel(), motion[-h // 8 :].ravel()]).mean()
    assert centre > 2 * border


def test_synthetic_study_with_long_axis(tmp_path):
    study = synthesize_study("site_c", seed=3, index=1)
    study.write(tmp_path)
    model_input = preprocess_study(load_study(tmp_path / study.key), InputSpec())
    assert model_input.lax_present.tolist() == [True]
    assert model_input.sax.shape == (8, 16, 64, 64)
    # the located centre is near where the LV axis crosses the mid slice (the RV pulls it
    # towards the septum by up to a ventricle's radius)
    plane = study.series["sax"].planes[len(study.series["sax"].planes) // 2]
    apex, axis = study.placement.apex_mm, study.placement.to_apex
    t = float((plane.origin_mm - apex) @ plane.normal / (axis @ plane.normal))
    offset = apex + t * axis - plane.origin_mm
    axis_px = np.array([offset @ plane.col_dir, offset @ plane.row_dir]) / plane.pixel_mm
    found = np.array(model_input.heart_centre_px["sax"])
    assert np.linalg.norm(found - axis_px) * plane.pixel_mm < 30
