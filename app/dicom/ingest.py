"""Step 4: the public entry point, `load_study`: source -> payloads -> headers -> views -> pixels.

Pixels are decoded only for the frames of the chosen views, after selection ran on headers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from pydicom.dataset import Dataset

from app.config import IngestLimits, ingest_limits
from app.dicom.evidence import study_evidence
from app.dicom.frames import FrameHeader
from app.dicom.reader import HeaderReader, ParsedStudy, decode_frames, read_headers
from app.dicom.series import ViewPlan, select_views
from app.dicom.sources import (
    Collected,
    PayloadCollector,
    StudySource,
    Upload,
    collect_payloads,
)
from app.dicom.study import CineStudy, CineView
from app.errors import NoCineSeriesError, TooManyFilesError


def load_study(source: StudySource, limits: IngestLimits | None = None) -> CineStudy:
    """Ingest one cine CMR study.

    `source`: a directory, a zip file or single file path, a list of paths, or a list of
    `(filename, bytes)` uploads (zips among them are unpacked, nested zips are not).
    Returns a CineStudy whose views hold float32 (S, T, H, W) pixels, SAX slices base -> apex,
    and whose `warnings` list everything skipped, ignored or resampled (no patient data).

    Raises (all CmrError): TooManyFilesError, PayloadTooLargeError, UnsafeArchiveError,
    ArchiveBombError, InvalidArchiveError, NotDicomError, NoPixelDataError, NoCineSeriesError,
    InconsistentGeometryError, UnsupportedTransferSyntaxError, CorruptPixelDataError.
    """
    limits = limits or ingest_limits()
    collected = collect_payloads(source, limits)
    return _assemble(collected, read_headers(collected.payloads), limits)


def load_datasets(datasets: Iterable[Dataset], limits: IngestLimits | None = None) -> CineStudy:
    """`load_study` of files already parsed (a DICOMweb retrieval's parts), consumed one at a
    time as the iterable yields them. Raises as `load_study` does."""
    limits = limits or ingest_limits()
    headers = HeaderReader()
    for ds in datasets:
        if headers.parsed.n_files == limits.max_files:
            raise TooManyFilesError(f"more than {limits.max_files} files in one study")
        headers.add_dataset(ds)
    return _assemble(Collected(payloads=[], skipped=Counter()), headers.finish(), limits)


class StudyFromUploads:
    """A study ingested one uploaded file at a time, while the upload is still arriving: each
    file is unpacked (a zip) and its headers parsed as it comes; `finish` then selects the views
    and decodes their pixels. The result, and every error, is that of `load_study` on the same
    uploads in the same order. Not thread-safe: one thread feeds and finishes it."""

    def __init__(self, limits: IngestLimits) -> None:
        self._limits = limits
        self._collector = PayloadCollector(limits)
        self._headers = HeaderReader()

    def add(self, upload: Upload) -> None:
        for payload in self._collector.add_upload(upload):
            self._headers.add(payload)

    def finish(self) -> CineStudy:
        return _assemble(self._collector.collected, self._headers.finish(), self._limits)


def _assemble(collected: Collected, parsed: ParsedStudy, limits: IngestLimits) -> CineStudy:
    """Views selected on the parsed headers, then the chosen frames' pixels decoded."""
    skipped = collected.warnings() + parsed.warnings()
    try:
        selection = select_views(parsed.frames, limits)
    except NoCineSeriesError as exc:
        if not skipped:
            raise
        raise NoCineSeriesError(f"{exc.message}; {'; '.join(skipped)}") from None
    views = {name: _build_view(plan, parsed) for name, plan in selection.views.items()}
    chosen = [f for plan in selection.views.values() for c in plan.slices for f in c.frames]
    notes = skipped + selection.warnings + _study_notes(parsed.frames)
    used = dict.fromkeys(f.dataset_index for f in chosen)
    return CineStudy(
        study_instance_uid=_most_common(f.study_uid for f in chosen),
        views=views,
        warnings=notes,
        manufacturer=_most_common(f.manufacturer for f in chosen),
        n_files=parsed.n_files,
        evidence=study_evidence([parsed.datasets[i] for i in used]),
    )


def _build_view(plan: ViewPlan, parsed: ParsedStudy) -> CineView:
    frames = [f for clip in plan.slices for f in clip.frames]
    decoded = decode_frames(parsed, frames)  # (N, H, W)
    n_slices, n_phases = len(plan.slices), plan.n_phases
    pixels = np.empty((n_slices, n_phases, *decoded.shape[1:]), dtype=np.float32)  # (S,T,H,W)
    times_ms = np.empty((n_slices, n_phases), dtype=np.float64)
    start = 0
    for s, clip in enumerate(plan.slices):
        clip_pixels = decoded[start : start + clip.n_phases]  # (T_s, H, W)
        start += clip.n_phases
        rr_ms = float(plan.slice_rr_ms[s])
        clip_times_ms = clip.trigger_times_ms
        if clip_times_ms is None:
            clip_times_ms = np.arange(clip.n_phases) * rr_ms / clip.n_phases
        if clip.n_phases == n_phases:
            pixels[s], times_ms[s] = clip_pixels, clip_times_ms
        else:
            # Interpolate at the same fraction of each slice's own cycle.
            pixels[s] = resample_cyclic(
                clip_pixels, clip_times_ms / rr_ms, plan.target_times_ms / plan.rr_interval_ms, 1.0
            )
            times_ms[s] = plan.target_times_ms * rr_ms / plan.rr_interval_ms
    first = plan.slices[0].first
    return CineView(
        name=plan.name,
        pixels=pixels,
        pixel_spacing_mm=first.pixel_spacing_mm,
        orientation=np.asarray(first.orientation, dtype=np.float64),
        slice_positions_mm=np.array([c.position_mm for c in plan.slices], dtype=np.float64),
        trigger_times_ms=times_ms,
        rr_interval_ms=plan.rr_interval_ms,
        series_instance_uids=tuple(dict.fromkeys(c.first.series_uid for c in plan.slices)),
        series_description=plan.series_description,
    )


def resample_cyclic(
    frames: np.ndarray, times_ms: np.ndarray, target_ms: np.ndarray, rr_ms: float
) -> np.ndarray:
    """Linear interpolation in time over one cardiac cycle of length rr_ms, wrapping from the
    last phase to the first: float32 (T0, H, W) at sorted times_ms (T0,) -> (T, H, W) at
    target_ms (T,). Any time unit works if all three agree (e.g. fractions of the cycle, rr 1).
    """
    n = len(times_ms)
    ext_ms = np.concatenate([[times_ms[-1] - rr_ms], times_ms, [times_ms[0] + rr_ms]])  # (T0+2,)
    ext_index = np.concatenate([[n - 1], np.arange(n), [0]])
    t_ms = np.mod(target_ms - ext_ms[0], rr_ms) + ext_ms[0]  # into [ext_ms[0], ext_ms[0] + rr)
    j = np.clip(np.searchsorted(ext_ms, t_ms, side="right") - 1, 0, n)  # (T,)
    step_ms = np.maximum(ext_ms[j + 1] - ext_ms[j], 1e-6)
    w = np.clip((t_ms - ext_ms[j]) / step_ms, 0.0, 1.0).astype(np.float32)[:, None, None]
    return (1 - w) * frames[ext_index[j]] + w * frames[ext_index[j + 1]]


def _study_notes(frames: Sequence[FrameHeader]) -> list[str]:
    n_studies = len({f.study_uid for f in frames})
    if n_studies > 1:
        return [f"images come from {n_studies} different studies (StudyInstanceUID)"]
    return []


def _most_common(values: object) -> str:
    counts = Counter(values)  # type: ignore[call-overload]
    return counts.most_common(1)[0][0] if counts else ""
