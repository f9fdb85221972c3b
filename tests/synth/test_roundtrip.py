"""synth -> DICOM -> ingest recovers exactly what was rendered: geometry, slice and phase order,
pixels, whatever the file names, their order, or a missing TriggerTime."""

import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from app.dicom.ingest import load_study
from app.synth.sites import SITES
from app.synth.study import SyntheticStudy, synthesize_study


@pytest.fixture(scope="module", params=sorted(SITES))
def written(request, tmp_path_factory) -> tuple[SyntheticStudy, Path]:
    study = synthesize_study(request.param, seed=5, index=2)
    root = tmp_path_factory.mktemp(request.param)
    study.write(root)
    return study, root / study.key


def _assert_matches(study: SyntheticStudy, folder: Path, check_triggers: bool = True) -> None:
    ingested = load_study(folder)
    assert set(ingested.views) == {"sax", "4ch"}
    assert ingested.study_instance_uid == study.header.study_uid
    for name, series in study.series.items():
        view = ingested.views[name]
        expected = np.stack(series.frames).astype(np.float32) * study.site.rescale_slope
        assert view.pixels.shape == expected.shape
        np.testing.assert_array_equal(view.pixels, expected)  # slice and phase order exact
        origins = np.stack([plane.origin_mm for plane in series.planes])
        np.testing.assert_allclose(view.slice_positions_mm, origins, atol=1e-3)
        plane = series.planes[0]
        np.testing.assert_allclose(view.orientation, [*plane.row_dir, *plane.col_dir], atol=1e-5)
        assert view.pixel_spacing_mm == pytest.approx((plane.pixel_mm, plane.pixel_mm), abs=1e-4)
        rr_ms = float(np.median(np.round(series.rr_intervals_ms)))
        assert view.rr_interval_ms == pytest.approx(rr_ms, abs=0.5)
        if check_triggers:
            np.testing.assert_allclose(
                view.trigger_times_ms, np.stack(series.trigger_times_ms), atol=0.01
            )


def test_round_trip_recovers_geometry_and_order(written):
    study, folder = written
    _assert_matches(study, folder)
    # base -> apex: slices step towards the apex, i.e. along (+1, -1, -1) in LPS
    sax = load_study(folder).views["sax"]
    steps = np.diff(sax.slice_positions_mm, axis=0)
    assert (steps @ np.array([1.0, -1.0, -1.0]) > 0).all()


def test_shuffled_and_renamed_files_give_the_same_study(written, tmp_path):
    study, folder = written
    files = sorted(folder.rglob("*.dcm"))
    random.Random(0).shuffle(files)
    flat = tmp_path / "upload"
    flat.mkdir()
    for i, path in enumerate(files):
        shutil.copy(path, flat / f"x{(i * 7919) % 100003:06d}")
    _assert_matches(study, flat)


def test_missing_trigger_time_falls_back_to_instance_number(written, tmp_path):
    study, folder = written
    out = tmp_path / "no_trigger"
    for i, path in enumerate(sorted(folder.rglob("*.dcm"))):
        ds = pydicom.dcmread(path)
        del ds.TriggerTime
        out.mkdir(exist_ok=True)
        ds.save_as(out / f"{i}.dcm")
    _assert_matches(study, out, check_triggers=False)
