"""Reader: headers without pixels, then pixels for chosen frames; every failure is typed."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_helpers import PYDICOM_FILES, parse, to_bytes
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML

from app.dicom.frames import FrameHeader
from app.dicom.ingest import load_study
from app.dicom.reader import ParsedStudy, decode_frames, read_headers
from app.dicom.sources import Payload
from app.errors import (
    CmrError,
    CorruptPixelDataError,
    NoCineSeriesError,
    NoPixelDataError,
    NotDicomError,
    UnsupportedTransferSyntaxError,
)

SHIPPED = sorted(PYDICOM_FILES.glob("*.dcm"))


def read_one(path_or_bytes: Path | bytes) -> ParsedStudy:
    if isinstance(path_or_bytes, bytes):
        return read_headers([Payload("upload.dcm", data=path_or_bytes)])
    return read_headers([Payload(path_or_bytes.name, path=path_or_bytes)])


def decode_one(path_or_bytes: Path | bytes) -> np.ndarray:
    parsed = read_one(path_or_bytes)
    return decode_frames(parsed, parsed.frames)


def test_dcm_qa_ts_nine_transfer_syntaxes_decode_to_the_same_array(realdata_dir: Path) -> None:
    folder = realdata_dir / "dcm_qa_ts"
    arrays = [decode_one(folder / f"{i}.dcm") for i in range(1, 10)]
    syntaxes = {
        str(pydicom.dcmread(folder / f"{i}.dcm").file_meta.TransferSyntaxUID) for i in range(1, 10)
    }
    assert len(syntaxes) >= 7
    assert arrays[0].shape == (1, 384, 384) and arrays[0].dtype == np.float32
    assert arrays[0].max() > 0
    for i, arr in enumerate(arrays[1:], start=2):
        np.testing.assert_array_equal(arr, arrays[0], err_msg=f"{i}.dcm")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_pydicom_file_is_read_or_rejected_with_a_typed_error(path: Path) -> None:
    try:
        parsed = read_one(path)
        pixels = decode_frames(parsed, parsed.frames)
        assert pixels.dtype == np.float32 and pixels.shape[0] == len(parsed.frames)
    except CmrError:
        pass
    with contextlib.suppress(CmrError):
        load_study(path)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_padded.dcm",
    ],
)
def test_mr_small_variants_decode_like_the_original(name: str) -> None:
    expected = decode_one(PYDICOM_FILES / "MR_small.dcm")
    np.testing.assert_array_equal(decode_one(PYDICOM_FILES / name), expected)


@pytest.mark.parametrize("name", ["MR_small.dcm", "CT_small.dcm", "liver_1frame.dcm", "rtdose.dcm"])
def test_fast_native_path_matches_pydicom(name: str) -> None:
    ds = pydicom.dcmread(PYDICOM_FILES / name)
    expected = ds.pixel_array.astype(np.float32).reshape(-1, ds.Rows, ds.Columns)
    parsed = read_one(PYDICOM_FILES / name)
    slopes = np.array([f.rescale_slope for f in parsed.frames], dtype=np.float32)[:, None, None]
    intercepts = np.array([f.rescale_intercept for f in parsed.frames], dtype=np.float32)
    np.testing.assert_allclose(
        decode_frames(parsed, parsed.frames), expected * slopes + intercepts[:, None, None]
    )


def test_ct_rescale_slope_and_intercept_are_applied() -> None:
    ds = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    assert float(ds.RescaleIntercept) != 0
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(decode_one(PYDICOM_FILES / "CT_small.dcm")[0], expected)


def test_multiframe_rtdose_gets_one_position_per_frame() -> None:
    parsed = read_one(PYDICOM_FILES / "rtdose.dcm")
    assert len(parsed.frames) == 15
    positions = np.array([f.position_mm for f in parsed.frames])
    assert len(np.unique(positions[:, 2])) == 15  # GridFrameOffsetVector applied
    assert decode_frames(parsed, parsed.frames).shape == (15, 10, 10)


@pytest.mark.parametrize(
    "name", ["SC_rgb_rle_2frame.dcm", "SC_rgb_jpeg_gdcm.dcm", "examples_ybr_color.dcm"]
)
def test_colour_images_become_luma(name: str) -> None:
    ds = pydicom.dcmread(PYDICOM_FILES / name)
    rgb = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns, 3).astype(np.float32)
    expected = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(decode_one(PYDICOM_FILES / name), expected, rtol=1e-5)


def test_palette_colour_is_decoded() -> None:
    pixels = decode_one(PYDICOM_FILES / "examples_palette.dcm")
    assert pixels.ndim == 3 and pixels.max() > pixels.min()


@pytest.mark.parametrize("name", ["MR_small.dcm", "MR_small_RLE.dcm"])
def test_monochrome1_is_inverted(name: str) -> None:
    ds = parse((PYDICOM_FILES / name).read_bytes())
    ds.PhotometricInterpretation = "MONOCHROME1"
    inverted = decode_one(to_bytes(ds))
    original = decode_one(PYDICOM_FILES / name)
    assert ds.PixelRepresentation == 1  # signed: v -> -1 - v over the stored range
    np.testing.assert_array_equal(inverted, -1 - original)


def test_truncated_pixel_data_is_corrupt() -> None:
    with pytest.raises(CorruptPixelDataError):
        decode_one(PYDICOM_FILES / "MR_truncated.dcm")


@pytest.mark.parametrize("uid", [MPEG2MPML, "1.2.3.4.5.6.7"], ids=["mpeg2", "made-up"])
def test_transfer_syntax_nobody_decodes_is_unsupported(uid: str) -> None:
    ds = parse((PYDICOM_FILES / "MR_small.dcm").read_bytes())
    ds.PixelData = encapsulate([ds.PixelData])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = uid
    with pytest.raises(UnsupportedTransferSyntaxError, match="MPEG2" if uid == MPEG2MPML else uid):
        decode_one(to_bytes(ds))


def test_non_dicom_and_no_pixel_data_are_typed_errors() -> None:
    with pytest.raises(NotDicomError):
        read_headers([Payload("a.txt", data=b"hello"), Payload("b.bin", data=bytes(300))])
    with pytest.raises(NotDicomError):
        read_one(PYDICOM_FILES / "no_meta.dcm")  # no preamble: not DICOM without force
    with pytest.raises(NoPixelDataError):
        read_one(PYDICOM_FILES / "rtplan.dcm")
    with pytest.raises(NoPixelDataError):
        load_study([PYDICOM_FILES / "rtplan.dcm", PYDICOM_FILES / "test-SR.dcm"])


def test_skipped_files_are_counted(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"not dicom")
    paths = [notes, PYDICOM_FILES / "rtplan.dcm", PYDICOM_FILES / "MR_small.dcm"]
    parsed = read_headers([Payload(p.name, path=p) for p in paths])
    assert len(parsed.frames) == 1 and parsed.n_files == 3
    assert parsed.warnings() == [
        "skipped 1 DICOM files without pixel data (e.g. DICOMDIR, reports)",
        "skipped 1 files that are not DICOM",
    ]
    with pytest.raises(NoCineSeriesError, match="not DICOM"):
        load_study(paths)


def test_frame_headers_hold_no_patient_identifiers() -> None:
    names = {f.name for f in dataclasses.fields(FrameHeader)}
    assert not any("patient" in n or "birth" in n for n in names)
