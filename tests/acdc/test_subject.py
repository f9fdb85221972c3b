"""ACDC subjects read in place: the key-frame study, volumes from the expert masks (equal to the
data set's own measurements), impressions by the synthetic writers, stratified folds, typed
errors for broken subject folders."""

import csv
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from app.acdc.manifest import GROUP_CONDITIONS, subject_rows
from app.acdc.subject import load_subject_study, measure_masks, read_info
from app.domain.reading import mentioned_conditions
from app.errors import InvalidSubjectError
from app.preprocess import InputSpec, preprocess_study

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def acdc_root(realdata_dir: Path) -> Path:
    return realdata_dir / "acdc" / "training"


@pytest.fixture(scope="module")
def measurements(realdata_dir: Path) -> dict[str, dict[str, str]]:
    with (realdata_dir / "acdc" / "training_measurements.csv").open() as handle:
        return {row["patient"]: row for row in csv.DictReader(handle)}


@pytest.mark.parametrize(
    "subject", ["patient001", "patient030", "patient047", "patient072", "patient095"]
)
def test_mask_volumes_equal_the_published_measurements(
    acdc_root: Path, measurements: dict[str, dict[str, str]], subject: str
) -> None:
    measured, published = measure_masks(acdc_root / subject), measurements[subject]
    for ours, theirs in (
        (measured.lvedv_ml, "lvedv_ml"),
        (measured.lvesv_ml, "lvesv_ml"),
        (measured.rvedv_ml, "rvedv_ml"),
        (measured.lvef_pct, "lvef_pct"),
        (measured.rvef_pct, "rvef_pct"),
    ):
        assert ours == pytest.approx(float(published[theirs]), abs=0.02)


def test_hypertrophic_walls_are_thicker_than_normal_ones(acdc_root: Path) -> None:
    normal = [measure_masks(acdc_root / f"patient{n:03d}").lv_max_wall_mm for n in (61, 62, 63)]
    thick = [measure_masks(acdc_root / f"patient{n:03d}").lv_max_wall_mm for n in (21, 22, 23)]
    assert max(normal) < 13.0 < min(thick)


def test_a_subject_is_a_two_phase_short_axis_study(acdc_root: Path) -> None:
    study = load_subject_study(acdc_root / "patient001")
    info = read_info(acdc_root / "patient001")
    assert set(study.views) == {"sax"} and study.sax.n_phases == 2
    assert study.sax.n_slices == 10 and study.sax.pixel_spacing_mm == (1.5625, 1.5625)
    end_systole_ms = (info.es_frame - 1) / info.frames * 1000.0
    np.testing.assert_allclose(study.sax.trigger_times_ms[0], [0.0, end_systole_ms])
    assert study.warnings[0].startswith("key frames only")
    model_input = preprocess_study(study, InputSpec())
    assert model_input.sax.shape == (8, 16, 64, 64) and not model_input.lax_present.any()
    # the blood pool shrinks from end-diastole to end-systole: a contraction is in the clip
    centre = model_input.sax[3, :, 24:40, 24:40].mean(axis=(1, 2))
    assert centre[0] > centre[5]


def test_manifest_rows_are_labelled_written_and_stratified(acdc_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "acdc"
    root.mkdir()
    for number in (*range(1, 6), *range(21, 26), *range(41, 46), *range(61, 66), *range(81, 86)):
        name = f"patient{number:03d}"
        (root / name).symlink_to(acdc_root / name)
    rows = subject_rows(root)
    assert Counter((row["group"], row["fold"]) for row in rows) == {
        (group, fold): 1 for group in GROUP_CONDITIONS for fold in range(1, 6)
    }
    for row in rows:
        condition = GROUP_CONDITIONS[row["group"]]
        assert row[f"label_{condition}"] == 1 and row["primary_diagnosis"] == condition
        assert condition in mentioned_conditions(row["impression"]) or condition == "normal"
    assert subject_rows(root) == rows  # deterministic


def _broken(acdc_root: Path, tmp_path: Path, edit: str) -> Path:
    folder = tmp_path / "patient001"
    shutil.copytree(acdc_root / "patient001", folder)
    info = folder / "Info.cfg"
    if edit == "no group":
        lines = info.read_text().splitlines()
        info.write_text("\n".join(line for line in lines if "Group" not in line))
    elif edit == "one phase":
        info.write_text(info.read_text().replace("ES: 12", "ES: 1"))
    elif edit == "missing frame":
        (folder / "patient001_frame12.nii.gz").unlink()
    elif edit == "corrupt frame":
        (folder / "patient001_frame12.nii.gz").write_bytes(b"not a nifti file")
    return folder


@pytest.mark.parametrize("edit", ["no group", "one phase", "missing frame", "corrupt frame"])
def test_broken_subjects_raise_a_typed_error(acdc_root: Path, tmp_path: Path, edit: str) -> None:
    folder = _broken(acdc_root, tmp_path, edit)
    with pytest.raises(InvalidSubjectError) as error:
        load_subject_study(folder)
    assert error.value.code == "invalid_subject" and "patient001" in str(error.value)
