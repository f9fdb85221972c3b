"""load_study end to end on the real Sunnybrook study and on variants derived from it."""

from __future__ import annotations

import io
import random
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from dicom_helpers import N_PHASES, N_SLICES, parse, slice_phase, to_bytes
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML, generate_uid

from app.config import IngestLimits
from app.dicom.ingest import StudyFromUploads, load_study, resample_cyclic
from app.dicom.study import CineStudy
from app.errors import (
    CorruptPixelDataError,
    InconsistentGeometryError,
    NoCineSeriesError,
    TooManyFilesError,
    UnsupportedTransferSyntaxError,
)

pytestmark = pytest.mark.realdata
Derive = Callable[[Callable], Path]


def assert_same_study(study: CineStudy, reference: CineStudy) -> None:
    view, ref = study.sax, reference.sax
    assert view is not None and ref is not None
    assert view.pixels.shape == ref.pixels.shape
    np.testing.assert_array_equal(view.pixels, ref.pixels)
    np.testing.assert_allclose(view.slice_positions_mm, ref.slice_positions_mm)


def test_sunnybrook_is_a_12_by_20_sax_stack(sunnybrook_study: CineStudy) -> None:
    sax = sunnybrook_study.sax
    assert sax is not None and list(sunnybrook_study.views) == ["sax"]
    assert sax.pixels.shape == (N_SLICES, N_PHASES, 256, 256)
    assert sax.pixels.dtype == np.float32
    assert sax.slice_spacing_mm == pytest.approx(10.0, abs=0.01)
    assert sax.pixel_spacing_mm == pytest.approx((1.367188, 1.367188))
    assert sax.trigger_times_ms.shape == (N_SLICES, N_PHASES)
    assert np.all(np.diff(sax.trigger_times_ms, axis=1) > 0)
    assert 700 < sax.rr_interval_ms < 820
    assert sunnybrook_study.warnings == []
    assert sunnybrook_study.n_files == 240
    assert sunnybrook_study.manufacturer == "GE MEDICAL SYSTEMS"
    assert "SCD0000101" not in repr(sunnybrook_study.warnings) + sunnybrook_study.study_instance_uid


def test_sunnybrook_slices_run_base_to_apex_in_instance_order(
    sunnybrook_study: CineStudy, sunnybrook_bytes: dict[int, bytes]
) -> None:
    sax = sunnybrook_study.sax
    assert sax is not None
    for instance in (1, 20, 21, 137, 240):
        s, t = slice_phase(instance)
        ds = parse(sunnybrook_bytes[instance])
        np.testing.assert_array_equal(sax.pixels[s, t], ds.pixel_array.astype(np.float32))
        assert sax.trigger_times_ms[s, t] == pytest.approx(float(ds.TriggerTime))


def test_expert_contoured_images_land_at_their_slice_and_phase(
    sunnybrook_study: CineStudy, sunnybrook_bytes: dict[int, bytes], contours_dir: Path
) -> None:
    sax = sunnybrook_study.sax
    assert sax is not None
    names = sorted(contours_dir.glob("IM-0001-*-icontour-manual.txt"))
    assert len(names) >= 10
    for path in names:
        instance = int(re.match(r"IM-0001-(\d{4})", path.name).group(1))  # type: ignore[union-attr]
        s, t = slice_phase(instance)
        expected = parse(sunnybrook_bytes[instance]).pixel_array.astype(np.float32)
        np.testing.assert_array_equal(sax.pixels[s, t], expected, err_msg=path.name)


def test_shuffled_and_renamed_files_give_the_identical_study(
    tmp_path: Path, sunnybrook_bytes: dict[int, bytes], sunnybrook_study: CineStudy
) -> None:
    rng = random.Random(3)
    for data in sunnybrook_bytes.values():
        (tmp_path / f"{rng.getrandbits(64):016x}").write_bytes(data)
    assert_same_study(load_study(tmp_path), sunnybrook_study)


def test_uploads_and_zip_upload_give_the_identical_study(
    sunnybrook_bytes: dict[int, bytes], sunnybrook_study: CineStudy
) -> None:
    uploads = [(f"IM{i:04d}", data) for i, data in sunnybrook_bytes.items()]
    random.Random(1).shuffle(uploads)
    assert_same_study(load_study(uploads), sunnybrook_study)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in uploads:
            archive.writestr(f"study/{name}.dcm", data)
        archive.writestr("DICOMDIR", b"not really")
        archive.writestr("__MACOSX/study/._IM0001.dcm", b"resource fork")
    study = load_study([("study.zip", buffer.getvalue())])
    assert_same_study(study, sunnybrook_study)
    assert study.warnings == [
        "skipped 1 hidden or system files",
        "skipped 1 files that are not DICOM",
    ]


def test_a_study_fed_one_upload_at_a_time_is_the_same_study(
    sunnybrook_bytes: dict[int, bytes], sunnybrook_study: CineStudy
) -> None:
    uploads = [(f"IM{i:04d}", data) for i, data in sunnybrook_bytes.items()]
    random.Random(2).shuffle(uploads)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in uploads[:40]:
            archive.writestr(f"study/{name}.dcm", data)
    sent = [("part.zip", buffer.getvalue()), *uploads[40:], (".DS_Store", b"x"), ("a.txt", b"x")]
    fed = StudyFromUploads(IngestLimits())
    for upload in sent:
        fed.add(upload)
    study = fed.finish()
    assert_same_study(study, sunnybrook_study)
    assert (
        study.warnings
        == load_study(sent).warnings
        == [
            "skipped 1 hidden or system files",
            "skipped 1 files that are not DICOM",
        ]
    )
    assert study.n_files == 241
    capped = StudyFromUploads(IngestLimits(max_files=100))
    with pytest.raises(TooManyFilesError):
        for upload in sent:
            capped.add(upload)


def test_invalid_header_values_do_not_matter(derive: Derive, sunnybrook_study: CineStudy) -> None:
    def edit(ds: Dataset, instance: int) -> Dataset:
        ds.PatientBirthDate = "00000000"
        ds.StudyDate = "2012"
        ds.PatientName = "not^a^name^at^all^really"
        ds.SOPInstanceUID = f"1.2.abc.{instance}"
        ds.SeriesInstanceUID = "1.2.0099.x"
        return ds

    assert_same_study(load_study(derive(edit)), sunnybrook_study)


@pytest.mark.parametrize("one_frame_of_reference", [True, False])
def test_each_slice_its_own_series_like_siemens(
    derive: Derive, sunnybrook_study: CineStudy, one_frame_of_reference: bool
) -> None:
    """False keeps the anonymiser's per-file FrameOfReferenceUIDs of the original data."""
    frame_of_reference = generate_uid()

    def edit(ds: Dataset, instance: int) -> Dataset:
        s, _ = slice_phase(instance)
        ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.8.498.{s + 1}"
        ds.SeriesNumber = 10 + s
        ds.SeriesDescription = f"cine_tf2d_sax_{s + 1}"
        if one_frame_of_reference:
            ds.FrameOfReferenceUID = frame_of_reference
        return ds

    study = load_study(derive(edit))
    assert_same_study(study, sunnybrook_study)
    assert study.sax is not None and len(study.sax.series_instance_uids) == N_SLICES
    assert study.warnings == []


def test_without_trigger_times_phases_follow_instance_numbers(
    derive: Derive, sunnybrook_study: CineStudy
) -> None:
    def edit(ds: Dataset, instance: int) -> Dataset:
        del ds.TriggerTime
        del ds.NominalCardiacTriggerDelayTime
        return ds

    study = load_study(derive(edit))
    assert_same_study(study, sunnybrook_study)
    assert study.sax is not None
    assert np.all(np.diff(study.sax.trigger_times_ms, axis=1) > 0)  # evenly spread over RR


def test_unequal_phase_counts_are_resampled_with_a_warning(
    derive: Derive, sunnybrook_study: CineStudy
) -> None:
    dropped = {3 * N_PHASES + 6, 3 * N_PHASES + 13}  # two phases of slice 3

    study = load_study(derive(lambda ds, i: None if i in dropped else ds))
    sax, ref = study.sax, sunnybrook_study.sax
    assert sax is not None and ref is not None
    assert sax.pixels.shape == ref.pixels.shape
    assert any("18 to 20 phases; resampled in time to 20" in w for w in study.warnings)
    np.testing.assert_array_equal(sax.pixels[2], ref.pixels[2])
    for t in range(N_PHASES):
        r = np.corrcoef(sax.pixels[3, t].ravel(), ref.pixels[3, t].ravel())[0, 1]
        assert r > 0.95, t


def test_localizer_mixed_in_is_ignored_with_a_warning(
    derive: Derive, sunnybrook_study: CineStudy
) -> None:
    def edit(ds: Dataset, instance: int) -> Dataset | list[tuple[str, Dataset]]:
        if instance > 3:
            return ds
        localizer = parse(to_bytes(ds))
        localizer.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.999"
        localizer.SeriesNumber = 1
        localizer.SeriesDescription = "localizer"
        localizer.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]  # coronal
        localizer.ImagePositionPatient = [0, 0, instance * 20.0]
        return [(f"{instance}.dcm", ds), (f"loc{instance}.dcm", localizer)]

    study = load_study(derive(edit))
    assert_same_study(study, sunnybrook_study)
    assert any(w.startswith("ignored 3 non-cine images") for w in study.warnings)


def test_two_sax_stacks_the_most_complete_is_used(
    derive: Derive, sunnybrook_study: CineStudy
) -> None:
    def edit(ds: Dataset, instance: int) -> list[tuple[str, Dataset]]:
        out = [(f"{instance}.dcm", ds)]
        if slice_phase(instance)[0] < 8:
            repeat = parse(to_bytes(ds))
            repeat.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.301"
            repeat.SeriesNumber = 301
            out.append((f"r{instance}.dcm", repeat))
        return out

    study = load_study(derive(edit))
    assert_same_study(study, sunnybrook_study)
    assert any(
        "sax: used series 300 (12 slices x 20 phases); ignored series 301 (8 slices" in w
        for w in study.warnings
    )


def test_monochrome1_and_rescale_are_undone(derive: Derive, sunnybrook_study: CineStudy) -> None:
    def edit(ds: Dataset, instance: int) -> Dataset:
        stored = ds.pixel_array.astype(np.int32)
        if instance % 2:
            ds.PhotometricInterpretation = "MONOCHROME1"
            stored = -1 - stored
        else:
            ds.RescaleSlope, ds.RescaleIntercept = 0.5, 10  # stored = 2 v - 20
            stored = 2 * stored - 20
        ds.PixelData = stored.astype(np.int16).tobytes()
        return ds

    assert_same_study(load_study(derive(edit)), sunnybrook_study)


@pytest.mark.parametrize("with_triggers", [True, False])
def test_enhanced_multiframe_with_shuffled_frames(
    tmp_path: Path,
    sunnybrook_bytes: dict[int, bytes],
    sunnybrook_study: CineStudy,
    with_triggers: bool,
) -> None:
    path = tmp_path / "enhanced.dcm"
    path.write_bytes(build_enhanced(sunnybrook_bytes, with_triggers))
    study = load_study(path)
    assert_same_study(study, sunnybrook_study)
    assert study.sax is not None and sunnybrook_study.sax is not None
    if with_triggers:
        np.testing.assert_allclose(
            study.sax.trigger_times_ms, sunnybrook_study.sax.trigger_times_ms
        )


def build_enhanced(sunnybrook_bytes: dict[int, bytes], with_triggers: bool) -> bytes:
    """One Enhanced MR Image Storage dataset holding all 240 frames in shuffled order, geometry
    in per-frame and shared functional groups, and a shared rescale (stored = 2 v - 20)."""
    sources = {i: parse(data) for i, data in sunnybrook_bytes.items()}
    template = sources[1]
    ds = Dataset()
    ds.file_meta = template.file_meta
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID", "Manufacturer", "Modality"):
        setattr(ds, keyword, getattr(template, keyword))
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = generate_uid(), 300, 1
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation"):
        setattr(ds, keyword, getattr(template, keyword))
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SharedFunctionalGroupsSequence = [
        _item(
            PixelMeasuresSequence=[_item(PixelSpacing=template.PixelSpacing, SliceThickness=10)],
            PlaneOrientationSequence=[
                _item(ImageOrientationPatient=template.ImageOrientationPatient)
            ],
            PixelValueTransformationSequence=[
                _item(RescaleSlope=0.5, RescaleIntercept=10, RescaleType="US")
            ],
        )
    ]
    order = list(sources)
    random.Random(7).shuffle(order)
    frames, pixels = [], []
    for instance in order:
        src = sources[instance]
        s, t = slice_phase(instance)
        groups = {
            "PlanePositionSequence": [_item(ImagePositionPatient=src.ImagePositionPatient)],
            "FrameContentSequence": [
                _item(TemporalPositionIndex=t + 1, InStackPositionNumber=s + 1)
            ],
        }
        if with_triggers:
            groups["CardiacSynchronizationSequence"] = [
                _item(NominalCardiacTriggerDelayTime=float(src.TriggerTime))
            ]
        frames.append(_item(**groups))
        pixels.append((2 * src.pixel_array.astype(np.int32) - 20).astype(np.int16).tobytes())
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.NumberOfFrames = len(frames)
    ds.PixelData = b"".join(pixels)
    return to_bytes(ds)


def _item(**elements: object) -> Dataset:
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def test_pixel_spacing_changed_in_a_few_files_is_inconsistent(derive: Derive) -> None:
    def edit(ds: Dataset, instance: int) -> Dataset:
        if instance in (45, 46, 47):
            ds.PixelSpacing = [1.5, 1.5]
        return ds

    with pytest.raises(InconsistentGeometryError):
        load_study(derive(edit))


def test_matrix_changed_for_one_slice_is_inconsistent(derive: Derive) -> None:
    def edit(ds: Dataset, instance: int) -> Dataset:
        if slice_phase(instance)[0] == 5:
            ds.Rows, ds.Columns = 128, 128
            ds.PixelData = ds.PixelData[: 128 * 128 * 2]
        return ds

    with pytest.raises(InconsistentGeometryError):
        load_study(derive(edit))


def test_unsupported_transfer_syntax_names_it(derive: Derive) -> None:
    def edit(ds: Dataset, instance: int) -> Dataset:
        ds.PixelData = encapsulate([ds.PixelData])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = MPEG2MPML
        return ds

    with pytest.raises(UnsupportedTransferSyntaxError, match="MPEG2"):
        load_study(derive(edit))


def test_truncated_pixel_data_in_a_chosen_frame_is_corrupt(derive: Derive) -> None:
    def edit(ds: Dataset, instance: int) -> Dataset:
        if instance == 77:
            ds.PixelData = ds.PixelData[:1000]
        return ds

    with pytest.raises(CorruptPixelDataError):
        load_study(derive(edit))


def test_single_phase_per_slice_is_not_cine(derive: Derive) -> None:
    with pytest.raises(NoCineSeriesError):
        load_study(derive(lambda ds, i: ds if slice_phase(i)[1] == 0 else None))


def test_min_cine_phases_comes_from_the_limits(sunnybrook_dir: Path) -> None:
    """Fewer phases than a cine needs: read as key frames, and said so."""
    study = load_study(sunnybrook_dir, IngestLimits(min_cine_phases=21))
    assert study.sax.n_phases == 20
    assert any(w.startswith("key frames only: at most 20 phases") for w in study.warnings)
    assert not any("key frames" in w for w in load_study(sunnybrook_dir).warnings)


def _phases_of_each_slice(sunnybrook_dir: Path, out: Path, phases: set[int]) -> Path:
    """The real study with only the given phase indices (0-based) of every slice kept."""
    out.mkdir()
    for path in sunnybrook_dir.glob("*.dcm"):
        if (int(path.stem) - 1) % 20 in phases:  # N.dcm: slice-major, 20 phases a slice
            (out / path.name).write_bytes(path.read_bytes())
    return out


def test_an_end_diastole_end_systole_pair_is_a_study(sunnybrook_dir: Path, tmp_path: Path) -> None:
    study = load_study(_phases_of_each_slice(sunnybrook_dir, tmp_path / "ed_es", {0, 7}))
    assert (study.sax.n_slices, study.sax.n_phases) == (12, 2)
    assert any(w.startswith("key frames only: at most 2 phases") for w in study.warnings)


def test_a_single_phase_is_no_cine(sunnybrook_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NoCineSeriesError, match="2 or more phases"):
        load_study(_phases_of_each_slice(sunnybrook_dir, tmp_path / "ed", {0}))


def test_resample_cyclic_wraps_over_the_cycle() -> None:
    frames = np.arange(4, dtype=np.float32)[:, None, None] * np.ones((4, 2, 2), np.float32)
    times = np.array([0.0, 100.0, 200.0, 300.0])
    out = resample_cyclic(frames, times, np.array([50.0, 350.0, 400.0]), rr_ms=400.0)
    np.testing.assert_allclose(out[:, 0, 0], [0.5, 1.5, 0.0])  # 350 ms: between 3 and 0
