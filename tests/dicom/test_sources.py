"""Sources: directories, zips and uploads -> payloads, with the archive safety checks."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from app.config import IngestLimits
from app.dicom.ingest import load_study
from app.dicom.sources import collect_payloads
from app.errors import (
    ArchiveBombError,
    InvalidArchiveError,
    NotDicomError,
    PayloadTooLargeError,
    TooManyFilesError,
    UnsafeArchiveError,
)

LIMITS = IngestLimits()


def make_zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_directory_skips_hidden_and_macos_files_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "a.dcm").write_bytes(b"x")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "._a.dcm").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.dcm").write_bytes(b"y")
    collected = collect_payloads(tmp_path, LIMITS)
    assert sorted(p.name for p in collected.payloads) == ["a.dcm", "sub/b.dcm"]
    assert collected.warnings() == ["skipped 2 hidden or system files"]


def test_zip_upload_unpacks_and_skips_nested_zips_and_hidden_entries() -> None:
    inner = make_zip({"x.dcm": b"x"})
    blob = make_zip(
        {"study/a.dcm": b"a", "study/.hidden": b"h", "__MACOSX/study/._a.dcm": b"m", "n.zip": inner}
    )
    collected = collect_payloads([("upload.zip", blob)], LIMITS)
    assert [p.name for p in collected.payloads] == ["study/a.dcm"]
    assert collected.payloads[0].read() == b"a"
    assert "skipped 1 nested archives (not expanded)" in collected.warnings()
    assert "skipped 2 hidden or system files" in collected.warnings()


def test_nested_zip_without_zip_name_is_detected_by_its_bytes() -> None:
    blob = make_zip({"a.dcm": make_zip({"x.dcm": b"x"})})
    collected = collect_payloads([("u.zip", blob)], LIMITS)
    assert collected.payloads == []
    assert collected.warnings() == ["skipped 1 nested archives (not expanded)"]


def test_zip_file_path_is_unpacked(tmp_path: Path) -> None:
    path = tmp_path / "study.zip"
    path.write_bytes(make_zip({"a.dcm": b"a", "b/c.dcm": b"c"}))
    assert sorted(p.name for p in collect_payloads(path, LIMITS).payloads) == ["a.dcm", "b/c.dcm"]


@pytest.mark.parametrize(
    "name", ["../evil.dcm", "a/../../evil.dcm", "/etc/passwd", "C:/evil.dcm", "..\\evil.dcm"]
)
def test_zip_path_traversal_and_absolute_names_are_rejected(name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("ok.dcm"), b"ok")
        archive.writestr(zipfile.ZipInfo(name), b"evil")
    with pytest.raises(UnsafeArchiveError):
        load_study([("u.zip", buffer.getvalue())])


def test_zip_symlink_entry_is_rejected() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link.dcm")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError):
        collect_payloads([("u.zip", buffer.getvalue())], LIMITS)


def test_zip_bomb_by_declared_total_size() -> None:
    blob = make_zip({"zeros.dcm": bytes(3_000_000)})
    with pytest.raises(ArchiveBombError):
        collect_payloads([("u.zip", blob)], IngestLimits(max_total_bytes=2_000_000))


def test_zip_bomb_by_compression_ratio() -> None:
    blob = make_zip({"zeros.dcm": bytes(4_000_000)})  # ~1000:1
    with pytest.raises(ArchiveBombError, match="ratio"):
        collect_payloads([("u.zip", blob)], IngestLimits(max_zip_ratio=200))


def test_zip_ratio_is_enforced_while_reading_even_if_headers_lie() -> None:
    """Central directory says 'stored, same size' (ratio 1), the data inflates 1000:1."""
    blob = bytearray(make_zip({"zeros.dcm": bytes(4_000_000)}))
    central = blob.rindex(b"PK\x01\x02")
    (compressed_size,) = struct.unpack_from("<I", blob, central + 20)
    struct.pack_into("<I", blob, central + 24, compressed_size)  # declared uncompressed size
    with pytest.raises((ArchiveBombError, InvalidArchiveError)):
        collect_payloads([("u.zip", bytes(blob))], IngestLimits(max_zip_ratio=200))


def test_zip_entry_inflating_beyond_the_budget_is_stopped() -> None:
    blob = make_zip({"a.dcm": bytes(600_000), "b.dcm": bytes(600_000)})
    with pytest.raises((ArchiveBombError, PayloadTooLargeError)):
        collect_payloads([("u.zip", blob)], IngestLimits(max_total_bytes=1_000_000))


def test_small_zero_files_are_not_called_bombs() -> None:
    blob = make_zip({"zeros.dcm": bytes(500_000)})
    assert len(collect_payloads([("u.zip", blob)], IngestLimits()).payloads) == 1


@pytest.mark.parametrize(
    "blob",
    [b"PK\x03\x04" + bytes(range(256)) * 4, make_zip({"a.dcm": bytes(100_000)})[:-30]],
    ids=["garbage", "truncated"],
)
def test_corrupt_zip_is_invalid_archive(blob: bytes) -> None:
    with pytest.raises(InvalidArchiveError):
        load_study([("u.zip", blob)])


def test_corrupt_entry_data_is_invalid_archive() -> None:
    blob = bytearray(make_zip({"a.dcm": bytes(range(256)) * 400}))
    blob[60:90] = b"\xff" * 30  # inside the deflate stream of the only entry
    with pytest.raises(InvalidArchiveError):
        collect_payloads([("u.zip", bytes(blob))], LIMITS)


def test_too_many_zip_entries() -> None:
    blob = make_zip({f"{i}.dcm": b"x" for i in range(6)})
    with pytest.raises(TooManyFilesError):
        collect_payloads([("u.zip", blob)], IngestLimits(max_zip_entries=5))


def test_too_many_files_in_a_directory(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"{i}.dcm").write_bytes(b"x")
    with pytest.raises(TooManyFilesError):
        load_study(tmp_path, IngestLimits(max_files=2))


def test_too_many_bytes_in_uploads() -> None:
    uploads = [(f"{i}.dcm", bytes(600)) for i in range(2)]
    with pytest.raises(PayloadTooLargeError):
        load_study(uploads, IngestLimits(max_total_bytes=1000))


def test_empty_source_is_not_dicom(tmp_path: Path) -> None:
    with pytest.raises(NotDicomError):
        load_study(tmp_path)
    with pytest.raises(NotDicomError):
        load_study([])
