"""Per-frame header records of one parsed dataset: classic, classic multi-frame, or enhanced.

Every attribute is looked up per frame in the Per-Frame Functional Groups item, then the Shared
Functional Groups item, then the top-level dataset, so one code path serves all three encodings.
Malformed values read as missing; patient identifiers are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """What series selection needs to know about one image frame. No pixels, no identifiers."""

    dataset_index: int  # index into ParsedStudy.datasets
    frame_index: int  # 0 for single-frame datasets
    has_geometry: bool  # False: position/orientation/spacing missing, placeholders below
    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    modality: str
    series_number: int | None
    series_description: str
    instance_number: int | None
    trigger_time_ms: float | None
    temporal_position_index: int | None
    in_stack_position: int | None
    position_mm: tuple[float, float, float]  # ImagePositionPatient (LPS)
    orientation: tuple[float, float, float, float, float, float]  # ImageOrientationPatient
    pixel_spacing_mm: tuple[float, float]  # (between rows, between columns)
    rows: int
    cols: int
    cardiac_number_of_images: int | None
    nominal_interval_ms: float | None
    manufacturer: str
    rescale_slope: float
    rescale_intercept: float
    photometric: str

    @property
    def normal(self) -> np.ndarray:
        """Unit normal of the image plane, float64 (3,)."""
        o = self.orientation
        n = np.cross(o[:3], o[3:])
        return n / np.linalg.norm(n)


_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_MAX_SIDE = 8192  # pixels per row or column
_MAX_FRAMES = 50_000  # frames in one dataset


def frame_headers(ds: Dataset, dataset_index: int) -> list[FrameHeader]:
    """Header records of every frame of `ds` (geometry placeholders where it is missing).

    Raises whatever pydicom raises on a corrupt header value (the caller skips the file).
    """
    n_frames = _int(_text(ds, "NumberOfFrames")) or 1
    rows, cols = int(ds.Rows), int(ds.Columns)
    if not (0 < rows <= _MAX_SIDE and 0 < cols <= _MAX_SIDE and 0 < n_frames <= _MAX_FRAMES):
        raise ValueError("implausible image size")  # corrupt header: never allocate for it
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared_seq = ds.get("SharedFunctionalGroupsSequence") or []
    shared = shared_seq[0] if len(shared_seq) else None
    common = {
        "series_uid": _text(ds, "SeriesInstanceUID") or "",
        "study_uid": _text(ds, "StudyInstanceUID") or "",
        "frame_of_reference_uid": _text(ds, "FrameOfReferenceUID") or "",
        "modality": (_text(ds, "Modality") or "").upper(),
        "series_number": _int(_text(ds, "SeriesNumber")),
        "series_description": _str(ds.get("SeriesDescription")),  # may need the character set
        "instance_number": _int(_text(ds, "InstanceNumber")),
        "rows": rows,
        "cols": cols,
        "cardiac_number_of_images": _int(_text(ds, "CardiacNumberOfImages")),
        "nominal_interval_ms": _positive(_float(_text(ds, "NominalInterval"))),
        "manufacturer": _str(ds.get("Manufacturer")),
        "photometric": (_text(ds, "PhotometricInterpretation") or "").upper(),
    }
    top_trigger_ms = _float(_text(ds, "TriggerTime"))
    if top_trigger_ms is None:
        top_trigger_ms = _float(ds.get("NominalCardiacTriggerDelayTime"))
    frame_times_ms = _frame_times_ms(ds, n_frames)
    grid_offsets_mm = (
        _floats(_text(ds, "GridFrameOffsetVector"), n_frames) if n_frames > 1 else None
    )

    headers: list[FrameHeader] = []
    for i in range(n_frames):
        groups = (per_frame[i] if i < len(per_frame) else None, shared)
        position = _floats(_lookup(groups, ds, "PlanePositionSequence", "ImagePositionPatient"), 3)
        orientation = _floats(
            _lookup(groups, ds, "PlaneOrientationSequence", "ImageOrientationPatient"), 6
        )
        spacing = _floats(_lookup(groups, ds, "PixelMeasuresSequence", "PixelSpacing"), 2)
        normal = np.cross(orientation[:3], orientation[3:]) if orientation else np.zeros(3)
        has_geometry = bool(
            position and spacing and min(spacing) > 0 and np.linalg.norm(normal) > 0.5
        )
        if not has_geometry:  # kept so selection can count them; never stacked
            position, orientation, spacing = (0.0, 0.0, 0.0), _AXIAL, (1.0, 1.0)
            normal = np.array([0.0, 0.0, 1.0])
        if grid_offsets_mm is not None:  # classic multi-frame stacks (e.g. RT dose grids)
            shifted = np.asarray(position) + grid_offsets_mm[i] * normal / np.linalg.norm(normal)
            position = tuple(float(v) for v in shifted)
        sync = _macro(groups, "CardiacSynchronizationSequence")
        trigger_ms = _float(sync.get("NominalCardiacTriggerDelayTime")) if sync else None
        if trigger_ms is None:
            trigger_ms = frame_times_ms[i] if frame_times_ms is not None else top_trigger_ms
        content = _macro(groups, "FrameContentSequence")
        slope = _float(_lookup(groups, ds, "PixelValueTransformationSequence", "RescaleSlope"))
        intercept = _lookup(groups, ds, "PixelValueTransformationSequence", "RescaleIntercept")
        headers.append(
            FrameHeader(
                dataset_index=dataset_index,
                frame_index=i,
                has_geometry=has_geometry,
                trigger_time_ms=trigger_ms,
                temporal_position_index=_int(content.get("TemporalPositionIndex"))
                if content
                else None,
                in_stack_position=_int(content.get("InStackPositionNumber")) if content else None,
                position_mm=position,  # type: ignore[arg-type]
                orientation=orientation,  # type: ignore[arg-type]
                pixel_spacing_mm=spacing,  # type: ignore[arg-type]
                rescale_slope=slope if slope else 1.0,
                rescale_intercept=_float(intercept) or 0.0,
                **common,
            )
        )
    return headers


def _macro(groups: tuple[Any, Any], seq_keyword: str) -> Dataset | None:
    """First item of a functional-group macro: per-frame item first, then shared."""
    for item in groups:
        if item is not None and seq_keyword in item:
            seq = item.get(seq_keyword)
            if seq is not None and len(seq):
                return seq[0]
    return None


def _lookup(groups: tuple[Any, Any], ds: Dataset, seq_keyword: str, keyword: str) -> str | None:
    """Text of `keyword` from the frame's functional-group macro, else the top level."""
    item = _macro(groups, seq_keyword) if groups != (None, None) else None
    if item is not None:
        value = _text(item, keyword)
        if value is not None:
            return value
    return _text(ds, keyword)


def _text(ds: Dataset, keyword: str) -> str | None:
    """The value of an ASCII-valued element (DS, IS, UI, CS) as text, "\\" between values.

    Reads the raw bytes when pydicom has not converted the element yet: converting costs
    more than all the rest of header extraction, and these VRs need no character set.
    """
    elem = ds.get_item(_TAGS[keyword])
    if elem is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip(" \x00") or None
    if value is None or value == "":
        return None
    if isinstance(value, str | int | float):
        return str(value).strip()
    return "\\".join(str(v) for v in value)


def _frame_times_ms(ds: Dataset, n_frames: int) -> tuple[float, ...] | None:
    """Classic multi-frame timing: FrameTimeVector (increments) or a constant FrameTime."""
    if n_frames < 2:
        return None
    increments = _floats(_text(ds, "FrameTimeVector"), n_frames)
    if increments is not None:
        return tuple(float(t) for t in np.cumsum(increments))
    step = _float(_text(ds, "FrameTime"))
    return tuple(i * step for i in range(n_frames)) if step else None


def _str(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _float(value: Any) -> float | None:
    """A finite float from text ("1.5\\2" -> 1.5) or a number, else None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split("\\", 1)[0]
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return out if np.isfinite(out) else None


def _positive(value: float | None) -> float | None:
    return value if value is not None and value > 0 else None


def _int(value: Any) -> int | None:
    f = _float(value)
    return round(f) if f is not None and abs(f) < 2**31 else None


def _floats(text: str | None, n: int) -> tuple[float, ...] | None:
    """Exactly `n` finite floats from multi-valued text, else None."""
    if text is None:
        return None
    try:
        out = tuple(float(v) for v in text.split("\\"))
    except (TypeError, ValueError, OverflowError):
        return None
    if len(out) != n or not all(np.isfinite(out)):
        return None
    return out


_TAGS = {
    keyword: tag_for_keyword(keyword)
    for keyword in (
        "NumberOfFrames",
        "SeriesInstanceUID",
        "StudyInstanceUID",
        "FrameOfReferenceUID",
        "Modality",
        "SeriesNumber",
        "InstanceNumber",
        "CardiacNumberOfImages",
        "NominalInterval",
        "PhotometricInterpretation",
        "TriggerTime",
        "GridFrameOffsetVector",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "PixelSpacing",
        "RescaleSlope",
        "RescaleIntercept",
        "FrameTimeVector",
        "FrameTime",
    )
}
