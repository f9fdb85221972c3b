"""Step 1 of ingestion: whatever the user sent -> a flat list of named payloads (bytes).

Accepted sources: a directory, a zip file, a single file, a list of paths, or a list of
`(filename, bytes)` uploads. Top-level zips are unpacked with the safety checks below; zips
inside zips are not expanded. Hidden files, `__MACOSX/` and directories are skipped, and every
skip is counted in a warning so that nothing the user sent disappears silently.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from app.config import IngestLimits
from app.errors import (
    ArchiveBombError,
    InvalidArchiveError,
    PayloadTooLargeError,
    TooManyFilesError,
    UnsafeArchiveError,
)

Upload = tuple[str, bytes]
StudySource = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Sequence[Upload]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# Per-entry and overall ratios are only judged above this size: a tiny file of zeros (a
# 4 KB text file, an empty DICOM padding) legitimately compresses far beyond any bomb ratio.
_RATIO_FLOOR_BYTES = 1 << 20
_READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Payload:
    """One file of the study: its name (for messages only) and its bytes, or a path to read."""

    name: str
    data: bytes | None = None
    path: Path | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


@dataclass
class Collected:
    """What `collect_payloads` found: the payloads plus counts of what was skipped and why."""

    payloads: list[Payload]
    skipped: Counter[str]

    def warnings(self) -> list[str]:
        return [f"skipped {n} {reason}" for reason, n in sorted(self.skipped.items()) if n]


def collect_payloads(source: StudySource, limits: IngestLimits) -> Collected:
    """Turn `source` into payloads, enforcing the file-count and size caps of `limits`.

    Raises TooManyFilesError, PayloadTooLargeError, and for zips UnsafeArchiveError,
    ArchiveBombError, InvalidArchiveError.
    """
    collector = PayloadCollector(limits)
    for item in _top_level_items(source, collector.collected):
        collector.add(item)
    return collector.collected


class PayloadCollector:
    """Collects payloads one top-level item at a time (an upload streams its files in one by
    one), unpacking zips and enforcing the caps as they arrive. Raises as `collect_payloads`."""

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self.collected = Collected(payloads=[], skipped=Counter())
        self._budget = _Budget(limits)

    def add_upload(self, upload: Upload) -> list[Payload]:
        """The payloads one uploaded file yields: none if hidden, a zip's entries, or itself."""
        item = _upload_payload(upload, self.collected)
        return [] if item is None else self.add(item)

    def add(self, item: Payload) -> list[Payload]:
        """The payloads `item` yields (a zip's entries, or itself), also kept in `collected`."""
        payloads = self.collected.payloads
        first = len(payloads)
        data = item.data
        head = data[:4] if data is not None else _head(item.path)
        if head in _ZIP_MAGICS or item.name.lower().endswith(".zip"):
            blob = data if data is not None else item.read()
            _unpack_zip(item.name, blob, self.limits, self._budget, self.collected)
        else:
            self._budget.add_file(item.path.stat().st_size if data is None else len(data))
            payloads.append(item)
        return payloads[first:]


class _Budget:
    """Running totals of files and bytes against the caps."""

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self.n_files = 0
        self.n_bytes = 0

    def add_file(self, n_bytes: int) -> None:
        self.n_files += 1
        self.n_bytes += n_bytes
        if self.n_files > self.limits.max_files:
            raise TooManyFilesError(f"more than {self.limits.max_files} files in one study")
        if self.n_bytes > self.limits.max_total_bytes:
            raise PayloadTooLargeError(
                f"study is larger than {self.limits.max_total_bytes} bytes unpacked"
            )


def _top_level_items(source: StudySource, out: Collected) -> list[Payload]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return _walk_directory(path, out)
        return [Payload(name=path.name, path=path)]
    items: list[Payload] = []
    for entry in source:
        if isinstance(entry, tuple):
            payload = _upload_payload(entry, out)
            if payload is not None:
                items.append(payload)
        else:
            path = Path(entry)
            if path.is_dir():
                items.extend(_walk_directory(path, out))
            else:
                items.append(Payload(name=path.name, path=path))
    return items


def _upload_payload(upload: Upload, out: Collected) -> Payload | None:
    """An uploaded (filename, bytes) as a payload, or None (counted) if its name is hidden."""
    name, data = upload
    if _is_hidden(PurePosixPath(str(name).replace("\\", "/")).parts):
        out.skipped["hidden or system files"] += 1
        return None
    return Payload(name=str(name), data=bytes(data))


def _walk_directory(root: Path, out: Collected) -> list[Payload]:
    items: list[Payload] = []
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow directory links
        kept = [d for d in dirnames if not _is_hidden((d,))]
        out.skipped["hidden or system files"] += len(dirnames) - len(kept)
        dirnames[:] = sorted(kept)
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if _is_hidden((filename,)):
                out.skipped["hidden or system files"] += 1
            elif not stat.S_ISREG(path.lstat().st_mode):
                out.skipped["links or special files"] += 1
            else:
                items.append(Payload(name=str(path.relative_to(root)), path=path))
    return items


def _head(path: Path | None) -> bytes:
    assert path is not None
    with path.open("rb") as f:
        return f.read(4)


def _is_hidden(parts: Sequence[str]) -> bool:
    return any((p.startswith(".") and p not in (".", "..")) or p == "__MACOSX" for p in parts)


def _unpack_zip(
    name: str, blob: bytes, limits: IngestLimits, budget: _Budget, out: Collected
) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            infos = archive.infolist()
            _check_zip_directory(infos, len(blob), limits)
            for info in infos:
                if info.is_dir():
                    continue
                parts = _safe_parts(info)
                if _is_hidden(parts):
                    out.skipped["hidden or system files"] += 1
                    continue
                if parts[-1].lower().endswith(".zip"):
                    out.skipped["nested archives (not expanded)"] += 1
                    continue
                data = _bounded_read(archive, info, limits, budget.n_bytes)
                if data[:4] in _ZIP_MAGICS:
                    out.skipped["nested archives (not expanded)"] += 1
                    continue
                budget.add_file(len(data))
                out.payloads.append(Payload(name="/".join(parts), data=data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as exc:
        raise InvalidArchiveError(f"{name!r} is not a readable zip archive: {exc}") from None
    except (NotImplementedError, ValueError, OSError, RuntimeError) as exc:
        # Unsupported compression method, encrypted entries, broken headers.
        raise InvalidArchiveError(f"{name!r} cannot be unpacked: {exc}") from None


def _check_zip_directory(infos: list[zipfile.ZipInfo], n_packed: int, limits: IngestLimits) -> None:
    """Reject on what the central directory declares, before inflating anything."""
    if len(infos) > limits.max_zip_entries:
        raise TooManyFilesError(f"zip holds more than {limits.max_zip_entries} entries")
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_total_bytes:
        raise ArchiveBombError(f"zip declares {declared} bytes unpacked, over the cap")
    for info in infos:
        if info.file_size > _RATIO_FLOOR_BYTES and (
            info.file_size > limits.max_zip_ratio * max(info.compress_size, 1)
        ):
            raise ArchiveBombError("a zip entry's compression ratio is over the cap")
    if declared > _RATIO_FLOOR_BYTES and declared > limits.max_zip_ratio * max(n_packed, 1):
        raise ArchiveBombError("the zip's overall compression ratio is over the cap")


def _safe_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """Path components of an entry; raises UnsafeArchiveError for names that could escape."""
    raw = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchiveError("zip contains a symbolic link entry")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":") or "\x00" in raw:
        raise UnsafeArchiveError("zip contains an absolute entry name")
    parts = tuple(p for p in raw.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchiveError("zip contains an entry name with '..' (path traversal)")
    if not parts:
        raise UnsafeArchiveError("zip contains an entry with an empty name")
    return parts


def _bounded_read(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: IngestLimits, n_bytes_so_far: int
) -> bytes:
    """Inflate one entry without trusting its header: stop as soon as a cap is passed."""
    if info.file_size > limits.max_total_bytes - n_bytes_so_far:
        raise PayloadTooLargeError(f"study is larger than {limits.max_total_bytes} bytes unpacked")
    allowed = info.file_size
    chunks: list[bytes] = []
    n_read = 0
    with archive.open(info) as stream:
        while True:
            chunk = stream.read(min(_READ_CHUNK_BYTES, allowed - n_read + 1))
            if not chunk:
                break
            n_read += len(chunk)
            if n_read > allowed:
                raise ArchiveBombError("a zip entry inflates beyond its declared size or the cap")
            if n_read > _RATIO_FLOOR_BYTES and n_read > limits.max_zip_ratio * max(
                info.compress_size, 1
            ):
                raise ArchiveBombError("a zip entry's compression ratio is over the cap")
            chunks.append(chunk)
    return b"".join(chunks)
