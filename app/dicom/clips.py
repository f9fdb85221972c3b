"""Frames -> slice clips: the frames of one series at one plane position, ordered in time.

A clip is the unit that series selection reasons about: one slice position of one series, with
its phases ordered by TriggerTime (falling back to TemporalPositionIndex, then InstanceNumber,
when trigger times are missing or all equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from app.dicom.frames import FrameHeader
from app.errors import InconsistentGeometryError

SAME_POSITION_MM = 0.5  # frames closer than this along the normal share a slice position
SAME_TRIGGER_MS = 0.5  # frames closer than this in trigger time are one phase
SAME_ORIENTATION = 0.01  # direction cosines closer than this (~0.6 degrees): one orientation


@dataclass(frozen=True)
class SliceClip:
    """One slice position of one series over the cardiac cycle."""

    frames: tuple[FrameHeader, ...]  # ordered by phase, one per phase
    trigger_times_ms: np.ndarray | None  # float64 (T,), None when the series has none
    n_duplicates: int  # frames dropped because another frame had the same trigger time
    frame_of_reference: str = ""  # FrameOfReferenceUID, or "study:<uid>" when unreliable

    @property
    def first(self) -> FrameHeader:
        return self.frames[0]

    @property
    def n_phases(self) -> int:
        return len(self.frames)

    @property
    def normal(self) -> np.ndarray:
        return self.first.normal

    @property
    def position_mm(self) -> np.ndarray:
        """ImagePositionPatient of the first phase, float64 (3,)."""
        return np.asarray(self.first.position_mm, dtype=np.float64)

    @property
    def series_label(self) -> str:
        """How warnings name the series: its number and description, never patient data."""
        f = self.first
        number = f"series {f.series_number}" if f.series_number is not None else "a series"
        return f"{number} '{f.series_description}'" if f.series_description else number

    @property
    def geometry_key(self) -> tuple[int, int, float, float]:
        """(rows, cols, spacing rounded to 0.01 mm): equal keys can be stacked."""
        f = self.first
        return (f.rows, f.cols, round(f.pixel_spacing_mm[0], 2), round(f.pixel_spacing_mm[1], 2))


def group_clips(frames: Sequence[FrameHeader]) -> list[SliceClip]:
    """Group frames by series, orientation and position along the normal -> clips.

    Raises InconsistentGeometryError when frames at one position of one series disagree on
    matrix size or pixel spacing.
    """
    frame_of_reference = _frames_of_reference(frames)
    clips: list[SliceClip] = []
    for plane_frames in _planes(frames):
        normal = plane_frames[0].normal
        along_mm = np.array([f.position_mm for f in plane_frames]) @ normal  # (N,)
        order = np.argsort(along_mm, kind="stable")
        breaks = np.flatnonzero(np.diff(along_mm[order]) > SAME_POSITION_MM) + 1
        for members in np.split(order, breaks):
            clip = _make_clip([plane_frames[i] for i in members])
            clips.append(
                replace(clip, frame_of_reference=frame_of_reference[clip.first.series_uid])
            )
    return clips


def _planes(frames: Sequence[FrameHeader]) -> list[list[FrameHeader]]:
    """Frames of one series whose orientations agree within SAME_ORIENTATION (any position)."""
    by_orientation: dict[tuple, list[FrameHeader]] = {}
    for f in frames:  # exact keys first: a series has one or a few orientations
        by_orientation.setdefault((f.series_uid, f.has_geometry, f.orientation), []).append(f)
    planes: list[tuple[tuple, np.ndarray, list[FrameHeader]]] = []
    for (series, has_geometry, orientation), members in by_orientation.items():
        o = np.asarray(orientation)
        for key, rep, plane in planes:
            if key == (series, has_geometry) and np.abs(rep - o).max() < SAME_ORIENTATION:
                plane.extend(members)
                break
        else:
            planes.append(((series, has_geometry), o, list(members)))
    return [plane for _, _, plane in planes]


def _frames_of_reference(frames: Sequence[FrameHeader]) -> dict[str, str]:
    """Series UID -> the frame of reference its clips may be stacked in.

    Some anonymisers give every image its own FrameOfReferenceUID (the Sunnybrook data does).
    When any series' images disagree, the UIDs carry no information, and every series falls
    back to its study as the shared frame.
    """
    seen: dict[str, set[str]] = {}
    study: dict[str, str] = {}
    for f in frames:
        seen.setdefault(f.series_uid, set()).add(f.frame_of_reference_uid)
        study[f.series_uid] = f.study_uid
    if any(len(uids) > 1 for uids in seen.values()):
        return {series: f"study:{study[series]}" for series in seen}
    return {series: next(iter(uids)) for series, uids in seen.items()}


def _make_clip(frames: list[FrameHeader]) -> SliceClip:
    geometry = {(f.rows, f.cols, *np.round(f.pixel_spacing_mm, 3)) for f in frames}
    if len(geometry) > 1 and frames[0].has_geometry:
        label = SliceClip(frames=(frames[0],), trigger_times_ms=None, n_duplicates=0).series_label
        raise InconsistentGeometryError(
            f"{label}: images at one slice position differ in matrix size or pixel spacing"
        )
    known_ms = [f.trigger_time_ms for f in frames if f.trigger_time_ms is not None]
    has_triggers = len(known_ms) == len(frames) and (
        len(frames) == 1 or max(known_ms) - min(known_ms) > SAME_TRIGGER_MS
    )
    if has_triggers:
        ordered = sorted(frames, key=_trigger_order)
        kept, kept_ms = [ordered[0]], [_trigger_order(ordered[0])[0]]
        for f in ordered[1:]:
            t_ms = _trigger_order(f)[0]
            if t_ms - kept_ms[-1] > SAME_TRIGGER_MS:  # equal times: keep the first instance
                kept.append(f)
                kept_ms.append(t_ms)
        times = np.array(kept_ms, dtype=np.float64)
        return SliceClip(tuple(kept), times, n_duplicates=len(frames) - len(kept))
    ordered = sorted(frames, key=_fallback_order)
    return SliceClip(tuple(ordered), None, n_duplicates=0)


def _trigger_order(f: FrameHeader) -> tuple[float, int, int]:
    return (f.trigger_time_ms or 0.0, _or_max(f.instance_number), f.frame_index)


def _fallback_order(f: FrameHeader) -> tuple[int, int, int]:
    return (_or_max(f.temporal_position_index), _or_max(f.instance_number), f.frame_index)


def _or_max(value: int | None) -> int:
    return value if value is not None else 2**31
