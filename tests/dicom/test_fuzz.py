"""Property tests: whatever bytes arrive, load_study returns a CineStudy or raises a CmrError."""

from __future__ import annotations

import pytest
from dicom_helpers import N_PHASES, PYDICOM_FILES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.dicom.ingest import load_study
from app.dicom.study import CineStudy
from app.errors import CmrError

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="session")
def one_slice_clip(sunnybrook_bytes: dict[int, bytes]) -> list[tuple[str, bytes]]:
    """The 20 real files of the basal slice: a single-plane cine that ingests on its own."""
    return [(f"{i}.dcm", sunnybrook_bytes[i]) for i in range(1, N_PHASES + 1)]


def ingest_or_typed_error(uploads: list[tuple[str, bytes]]) -> None:
    try:
        study = load_study(uploads)
    except CmrError:
        return
    assert isinstance(study, CineStudy)
    for view in study.views.values():
        assert view.pixels.ndim == 4 and view.pixels.dtype.name == "float32"


def test_the_uncorrupted_clip_ingests(one_slice_clip: list[tuple[str, bytes]]) -> None:
    study = load_study(one_slice_clip)
    assert [v.pixels.shape for v in study.views.values()] == [(1, N_PHASES, 256, 256)]


@pytest.mark.realdata
@FUZZ
@given(data=st.data())
def test_truncated_real_file(one_slice_clip: list[tuple[str, bytes]], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(one_slice_clip) - 1))
    name, blob = one_slice_clip[index]
    cut = data.draw(st.integers(0, len(blob) - 1))
    uploads = list(one_slice_clip)
    uploads[index] = (name, blob[:cut])
    ingest_or_typed_error(uploads)
    ingest_or_typed_error([uploads[index]])


@pytest.mark.realdata
@FUZZ
@given(data=st.data())
def test_corrupted_bytes_in_a_real_file(
    one_slice_clip: list[tuple[str, bytes]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(one_slice_clip) - 1))
    name, blob = one_slice_clip[index]
    corrupted = bytearray(blob)
    # Mostly the header (first 2 KB), where corruption changes structure; sometimes pixels.
    header_end = data.draw(st.sampled_from([2048, len(blob)]))
    edits = data.draw(
        st.lists(
            st.tuples(st.integers(0, header_end - 1), st.integers(0, 255)), min_size=1, max_size=16
        )
    )
    for position, value in edits:
        corrupted[position] = value
    uploads = list(one_slice_clip)
    uploads[index] = (name, bytes(corrupted))
    ingest_or_typed_error(uploads)


@FUZZ
@given(blob=st.binary(max_size=4096), as_zip_name=st.booleans())
def test_random_bytes(blob: bytes, as_zip_name: bool) -> None:
    ingest_or_typed_error([("upload.zip" if as_zip_name else "upload.dcm", blob)])


@FUZZ
@given(data=st.data())
def test_corrupted_small_shipped_file(data: st.DataObject) -> None:
    name = data.draw(
        st.sampled_from(
            ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "rtdose.dcm"]
        )
    )
    blob = bytearray((PYDICOM_FILES / name).read_bytes())
    for position in data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=8)):
        blob[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(blob)))
    ingest_or_typed_error([(name, bytes(blob[:cut]))])
