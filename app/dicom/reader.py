"""Step 2 of ingestion: payloads -> per-frame header records; later, pixels of chosen frames.

Each payload is parsed once with pydicom. Headers are read for every frame (classic single-frame,
classic multi-frame, enhanced multi-frame with functional groups) without decoding pixels; the
parsed datasets are kept so that `decode_frames` can decode only the frames finally selected.
Patient identifiers are never read.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, get_decoder
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from app.dicom.frames import FrameHeader, frame_headers
from app.dicom.sources import Payload
from app.errors import (
    CorruptPixelDataError,
    NoPixelDataError,
    NotDicomError,
    UnsupportedTransferSyntaxError,
)

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_NOT_DICOM = "files that are not DICOM"
_NO_PIXELS = "DICOM files without pixel data (e.g. DICOMDIR, reports)"
_BAD_IMAGE = "DICOM images with missing or unreadable image attributes"
_NATIVE_LITTLE_ENDIAN = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class ParsedStudy:
    """Parsed datasets that hold pixels, their frames' headers, and what was skipped."""

    datasets: list[Dataset]
    frames: list[FrameHeader]
    n_files: int
    skipped: Counter[str] = field(default_factory=Counter)

    def warnings(self) -> list[str]:
        return [f"skipped {n} {reason}" for reason, n in sorted(self.skipped.items()) if n]


def _configure_pydicom() -> None:
    """Once per process, at import: no value validation while reading, and pydicom's warnings
    and log messages about real-world header quirks silenced.

    Invalid DA/UI values and the like must not matter, and the messages would quote header
    values (a birth date among them) into logs. A process-wide setting made once is thread-safe,
    where switching it on and off around each study was not: the gateway ingests in threads.
    """
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    logging.getLogger("pydicom").setLevel(logging.ERROR)


_configure_pydicom()


class HeaderReader:
    """Parses payloads one at a time into a ParsedStudy, so that an upload's headers can be
    read while the rest of it is still arriving. Not thread-safe: one thread feeds it."""

    def __init__(self) -> None:
        self.parsed = ParsedStudy(datasets=[], frames=[], n_files=0)
        self._n_dicom = 0

    def add(self, payload: Payload) -> None:
        try:
            ds = dcmread(io.BytesIO(payload.read()), force=False)
        except Exception:  # pydicom raises many types on truncated or random bytes
            self.parsed.n_files += 1
            self.parsed.skipped[_NOT_DICOM] += 1
            return
        self.add_dataset(ds)

    def add_dataset(self, ds: Dataset) -> None:
        """A file already parsed (one part of a DICOMweb retrieval, say)."""
        parsed = self.parsed
        parsed.n_files += 1
        self._n_dicom += 1
        if not any(kw in ds for kw in _PIXEL_KEYWORDS):
            parsed.skipped[_NO_PIXELS] += 1
            return
        try:
            headers = frame_headers(ds, dataset_index=len(parsed.datasets))
        except Exception:  # a corrupt value anywhere in the header makes the file unusable
            parsed.skipped[_BAD_IMAGE] += 1
            return
        parsed.datasets.append(ds)
        parsed.frames.extend(headers)

    def finish(self) -> ParsedStudy:
        """The parsed study. Raises NotDicomError if no payload was DICOM, NoPixelDataError if
        none of the DICOM files holds pixel data."""
        parsed = self.parsed
        if self._n_dicom == 0:
            raise NotDicomError(f"none of the {parsed.n_files} files sent is DICOM")
        if self._n_dicom == parsed.skipped[_NO_PIXELS]:
            raise NoPixelDataError(
                f"none of the {self._n_dicom} DICOM files holds image pixel data"
            )
        return parsed


def read_headers(payloads: Sequence[Payload]) -> ParsedStudy:
    """Parse every payload and return the headers of every image frame (no pixels decoded).

    Raises NotDicomError if no payload is DICOM, NoPixelDataError if none of the DICOM files
    holds pixel data.
    """
    reader = HeaderReader()
    for payload in payloads:
        reader.add(payload)
    return reader.finish()


def decode_frames(parsed: ParsedStudy, frames: Sequence[FrameHeader]) -> np.ndarray:
    """Decode the pixels of `frames` (all of one matrix size) -> float32 (N, H, W).

    Values are RescaleSlope * stored + RescaleIntercept, with MONOCHROME1 inverted first and
    colour images reduced to luma. Raises UnsupportedTransferSyntaxError when no installed
    codec decodes a frame's transfer syntax, CorruptPixelDataError when decoding fails.
    """
    if not frames:
        return np.zeros((0, 0, 0), dtype=np.float32)
    out = np.empty((len(frames), frames[0].rows, frames[0].cols), dtype=np.float32)
    by_dataset: dict[int, list[int]] = {}
    for i, frame in enumerate(frames):
        by_dataset.setdefault(frame.dataset_index, []).append(i)
    for dataset_index, out_rows in by_dataset.items():
        stack = _decode_dataset(parsed.datasets[dataset_index])  # (F, H, W)
        for i in out_rows:
            index = frames[i].frame_index
            if index >= stack.shape[0] or stack.shape[1:] != out.shape[1:]:
                raise CorruptPixelDataError(
                    "decoded pixel data does not match the header's frame count or matrix"
                )
            out[i] = stack[index]
    slopes = np.array([f.rescale_slope for f in frames], dtype=np.float32)
    intercepts = np.array([f.rescale_intercept for f in frames], dtype=np.float32)
    if np.any(slopes != 1) or np.any(intercepts != 0):
        out *= slopes[:, None, None]
        out += intercepts[:, None, None]
    return out


def _decode_dataset(ds: Dataset) -> np.ndarray:
    """All frames of one dataset -> float32 (F, H, W), MONOCHROME1 inverted, colour -> luma."""
    tsyntax = _transfer_syntax(ds)
    fast = _native_frames(ds, tsyntax)
    if fast is not None:
        return fast.astype(np.float32)
    _require_decoder(tsyntax)
    try:
        raw = ds.pixel_array
    except NotImplementedError as exc:
        raise UnsupportedTransferSyntaxError(
            f"pixel data in {_describe(tsyntax)} cannot be decoded here: {exc}"
        ) from None
    except Exception as exc:  # codecs raise ValueError, RuntimeError, ... on broken streams
        reason = " ".join(str(exc).split())[:200]
        raise CorruptPixelDataError(
            f"pixel data in {_describe(tsyntax)} could not be decoded: {reason}"
        ) from None
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    n_frame_dims = 3 if samples > 1 else 2
    if raw.ndim == n_frame_dims:
        raw = raw[None]  # (1, H, W[, 3])
    if photometric == "PALETTE COLOR":
        try:
            raw = apply_color_lut(raw, ds)
        except Exception as exc:
            raise CorruptPixelDataError(f"palette colour lookup failed: {exc}") from None
        samples = 3
    if photometric == "MONOCHROME1":
        raw = _invert_monochrome1(raw, ds)
    if samples > 1:
        return (raw[..., :3].astype(np.float32) @ _LUMA_WEIGHTS).astype(np.float32)
    return raw.astype(np.float32, copy=False)


def _native_frames(ds: Dataset, tsyntax: UID) -> np.ndarray | None:
    """Uncompressed little-endian greyscale straight from the buffer -> (F, H, W), else None.

    pydicom's generic decoder costs ~0.3 ms a frame; this is the common case of a cine study
    and takes microseconds. Like pydicom, unused high bits are cleared (sign-extended if signed).
    """
    if tsyntax not in _NATIVE_LITTLE_ENDIAN or "PixelData" not in ds:
        return None
    bits_allocated = _int_or(ds, "BitsAllocated", 0)
    bits_stored = _int_or(ds, "BitsStored", bits_allocated)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if (
        _int_or(ds, "SamplesPerPixel", 1) != 1
        or bits_allocated not in (8, 16, 32)
        or photometric not in ("MONOCHROME1", "MONOCHROME2")
    ):
        return None
    signed = _int_or(ds, "PixelRepresentation", 0) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits_allocated // 8}")
    shape = (_int_or(ds, "NumberOfFrames", 1) or 1, int(ds.Rows), int(ds.Columns))
    data = ds.PixelData
    n_values = shape[0] * shape[1] * shape[2]
    if not isinstance(data, bytes) or len(data) < n_values * dtype.itemsize or n_values == 0:
        return None  # let pydicom decide what is wrong
    arr = np.frombuffer(data, dtype=dtype, count=n_values).reshape(shape)
    if 0 < bits_stored < bits_allocated:
        shift = bits_allocated - bits_stored
        arr = np.right_shift(np.left_shift(arr, shift), shift)
    if photometric == "MONOCHROME1":
        return _invert_monochrome1(arr, ds)
    return arr


def _int_or(ds: Dataset, keyword: str, default: int) -> int:
    try:
        return int(ds.get(keyword, default))
    except (TypeError, ValueError):
        return default


def _invert_monochrome1(raw: np.ndarray, ds: Dataset) -> np.ndarray:
    """Map stored value v to (min + max - v) of the stored range, so that high means bright."""
    if raw.dtype.kind == "f":
        return float(raw.max() + raw.min()) - raw
    bits = int(ds.get("BitsStored", raw.dtype.itemsize * 8))
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return (-1 - raw.astype(np.int64)).astype(np.float32)  # -2^(b-1) + 2^(b-1)-1 = -1
    return ((1 << bits) - 1 - raw.astype(np.int64)).astype(np.float32)


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(uid)) if uid else ImplicitVRLittleEndian


def _describe(uid: UID) -> str:
    name = uid.name
    return f"'{name}' ({uid})" if name and name != str(uid) else f"transfer syntax {uid}"


@lru_cache(maxsize=64)
def _require_decoder(uid: UID) -> None:
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise UnsupportedTransferSyntaxError(
            f"no decoder exists here for pixel data in {_describe(uid)}"
        ) from None
    if not decoder.is_available:
        raise UnsupportedTransferSyntaxError(
            f"no installed plugin decodes pixel data in {_describe(uid)}"
        )
