"""Step 3 of ingestion: frame headers -> which clips make which cine view. Headers only.

Selection reads as data, top to bottom:
- CLIP_RULES decide which slice clips are cine candidates at all (modality, phase count);
- parallel clips (same frame of reference, normals within PARALLEL_DEG, same matrix and pixel
  spacing) are assembled into stacks, across series, since vendors differ (one series per stack
  vs one series per slice);
- VIEW_RULES name each stack or clip: SeriesDescription keywords first, else geometry;
- per view the most complete candidate (slices x phases) wins, and the others are reported.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from app.config import IngestLimits
from app.dicom.clips import SliceClip, group_clips
from app.dicom.frames import FrameHeader
from app.dicom.stacks import Stack, assemble_stacks
from app.dicom.study import ViewName
from app.errors import NoCineSeriesError

# Direction from the base of the heart to the apex in DICOM patient coordinates (LPS): the apex
# points to the patient's left, anterior and inferior, i.e. +x, -y, -z.
APEX_DIRECTION_LPS = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)
SAX_SPACING_MM = (4.0, 20.0)
SAX_MIN_SLICES = 3
KEY_FRAME_MIN_PHASES = 2  # end-diastole and end-systole: the least that shows a contraction
FOUR_CHAMBER_MIN_ABS_Z = 0.6  # a long-axis normal this close to head-foot: horizontal long axis
STRAY_PARALLEL_DEG = 5.0


@dataclass(frozen=True)
class ClipRule:
    """A clip stays a cine candidate only if `keep` holds; the others are counted under `reason`."""

    reason: str
    keep: Callable[[SliceClip, IngestLimits], bool]


CLIP_RULES: tuple[ClipRule, ...] = (
    ClipRule(
        "images without geometry (position, orientation or pixel spacing missing)",
        lambda c, _: c.first.has_geometry,
    ),
    ClipRule("images of a modality other than MR", lambda c, _: c.first.modality in ("MR", "")),
    ClipRule(
        "non-cine images (localizers, single images: too few phases at one position)",
        lambda c, limits: c.n_phases >= limits.min_cine_phases,
    ),
)


def _keywords(*words: str) -> re.Pattern[str]:
    """Whole-word match, where letters and digits (not '_' or '-') make up words."""
    return re.compile(r"(?<![a-z0-9])(" + "|".join(words) + r")(?![a-z0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class ViewRule:
    """A view named by SeriesDescription keywords, or else by the geometry of the candidate."""

    view: ViewName
    description: re.Pattern[str]
    geometry: Callable[[Stack], bool]


def _is_sax_stack(s: Stack) -> bool:
    lo, hi = SAX_SPACING_MM
    return s.n_slices >= SAX_MIN_SLICES and lo <= s.spacing_mm <= hi


VIEW_RULES: tuple[ViewRule, ...] = (
    ViewRule("sax", _keywords("sax", "sa", r"short[ _-]*axis"), _is_sax_stack),
    ViewRule(
        "4ch",
        _keywords(r"4[ _-]*ch", "hla", r"four[ _-]*chambers?"),
        lambda s: abs(s.normal[2]) > FOUR_CHAMBER_MIN_ABS_Z,
    ),
    ViewRule("3ch", _keywords(r"3[ _-]*ch", "lvot", r"three[ _-]*chambers?"), lambda s: False),
    ViewRule("2ch", _keywords(r"2[ _-]*ch", "vla", r"two[ _-]*chambers?"), lambda s: True),
)


@dataclass(frozen=True)
class ViewPlan:
    """The clips chosen for one view and how their phases line up in time."""

    name: ViewName
    slices: tuple[SliceClip, ...]  # base -> apex for "sax"; one clip for long-axis views
    n_phases: int  # T of the output; slices with another count are resampled to it
    target_times_ms: np.ndarray  # float64 (T,) trigger times the resampled slices are put on
    rr_interval_ms: float  # median over slices
    slice_rr_ms: np.ndarray  # float64 (S,) each slice's own RR interval

    @property
    def series_description(self) -> str:
        named = Counter(d for c in self.slices if (d := c.first.series_description))
        return named.most_common(1)[0][0] if named else ""


@dataclass
class Selection:
    views: dict[str, ViewPlan]
    warnings: list[str]


def select_views(frames: Sequence[FrameHeader], limits: IngestLimits) -> Selection:
    """Choose the cine views of a study from its frame headers.

    Raises NoCineSeriesError when no clip is cine, InconsistentGeometryError when a stack mixes
    matrix sizes / pixel spacings or its slices do not lie on one line along the normal.
    """
    notes: list[str] = []
    clips = group_clips(frames)
    n_dup = sum(c.n_duplicates for c in clips)
    if n_dup:
        notes.append(f"ignored {n_dup} images repeating another image's trigger time")
    cine = _cine_clips(clips, limits, notes)
    if not cine:
        raise NoCineSeriesError(
            f"no cine series: no slice position has {KEY_FRAME_MIN_PHASES} or more phases "
            f"({len(clips)} positions in {len({c.first.series_uid for c in clips})} series)"
        )
    stacks = assemble_stacks(cine, notes)
    candidates: dict[ViewName, list[Stack]] = {}
    for stack in stacks:
        candidates.setdefault(_classify(stack), []).append(stack)
    views: dict[str, ViewPlan] = {}
    for rule in VIEW_RULES:
        chosen = _choose(rule.view, candidates.get(rule.view, []), views, notes)
        if chosen is not None:
            views[rule.view] = _plan(rule.view, chosen, notes)
    return Selection(views=views, warnings=notes)


def _cine_clips(clips: list[SliceClip], limits: IngestLimits, notes: list[str]) -> list[SliceClip]:
    """The clips with at least `limits.min_cine_phases` phases; failing any, those with key
    frames only (two or more phases, such as end-diastole and end-systole, which real archives
    often keep alone), with a warning: the motion between them is interpolated downstream."""
    full_notes: list[str] = []
    cine = _apply_clip_rules(clips, limits, full_notes)
    if cine:
        notes.extend(full_notes)
        return cine
    key_limits = limits.model_copy(update={"min_cine_phases": KEY_FRAME_MIN_PHASES})
    key_frames = _apply_clip_rules(clips, key_limits, notes)
    if key_frames:
        most = max(c.n_phases for c in key_frames)
        notes.append(
            f"key frames only: at most {most} phases per position, fewer than the "
            f"{limits.min_cine_phases} of a cine; the motion between them is interpolated"
        )
    return key_frames


def _apply_clip_rules(
    clips: list[SliceClip], limits: IngestLimits, notes: list[str]
) -> list[SliceClip]:
    for rule in CLIP_RULES:
        dropped = [c for c in clips if not rule.keep(c, limits)]
        if dropped:
            clips = [c for c in clips if rule.keep(c, limits)]
            n_images = sum(c.n_phases for c in dropped)
            n_series = len({c.first.series_uid for c in dropped})
            notes.append(f"ignored {n_images} {rule.reason} in {n_series} series")
    return clips


def _view_by_description(stack: Stack) -> ViewName | None:
    description = stack.series_description
    for rule in VIEW_RULES:
        if description and rule.description.search(description):
            return rule.view
    return None


def _classify(stack: Stack) -> ViewName:
    by_description = _view_by_description(stack)
    if by_description is not None:
        return by_description
    return next(rule.view for rule in VIEW_RULES if rule.geometry(stack))


def _choose(
    view: ViewName, stacks: list[Stack], chosen: dict[str, ViewPlan], notes: list[str]
) -> Stack | None:
    """The most complete candidate (slices x phases); the rest are reported as ignored."""
    sax = chosen.get("sax")
    if sax is not None and view != "sax":
        # Single planes parallel to the chosen stack are stray short-axis slices, not long axes.
        cos_tol = np.cos(np.deg2rad(STRAY_PARALLEL_DEG))
        stray = [
            s
            for s in stacks
            if abs(s.normal @ sax.slices[0].normal) > cos_tol and _view_by_description(s) is None
        ]
        if stray:
            notes.append(
                f"ignored {len(stray)} cine clip(s) parallel to the short-axis stack: "
                + ", ".join(s.label for s in stray)
            )
            stacks = [s for s in stacks if not any(s is t for t in stray)]
    if not stacks:
        return None
    ranked = sorted(stacks, key=lambda s: s.completeness, reverse=True)
    if len(ranked) > 1:
        notes.append(
            f"{view}: used {ranked[0].label} ({ranked[0].shape_text}); ignored "
            + ", ".join(f"{s.label} ({s.shape_text})" for s in ranked[1:])
        )
    return ranked[0]


def _plan(view: ViewName, stack: Stack, notes: list[str]) -> ViewPlan:
    clips = list(stack.clips)
    if view == "sax":
        sign = 1.0 if stack.normal @ APEX_DIRECTION_LPS >= 0 else -1.0
        clips.sort(key=lambda c: sign * float(c.position_mm @ stack.normal))
        gaps_mm = np.abs(np.diff(stack.along_mm))
        if len(gaps_mm) > 1 and gaps_mm.max() > 1.5 * gaps_mm.min():
            notes.append(
                f"sax: uneven slice spacing ({gaps_mm.min():.1f} to {gaps_mm.max():.1f} mm); "
                "slices may be missing"
            )
    elif len(clips) > 1:
        middle = clips[len(clips) // 2]
        notes.append(f"{view}: {stack.label} has {len(clips)} parallel slices; used the middle one")
        clips = [middle]
    counts = Counter(c.n_phases for c in clips)
    n_phases = max(counts, key=lambda n: (counts[n], n))
    if len(counts) > 1:
        notes.append(
            f"{view}: slices have {min(counts)} to {max(counts)} phases; "
            f"resampled in time to {n_phases}"
        )
    known_rr_ms = [rr for rr in map(_clip_rr_ms, clips) if rr is not None]
    if known_rr_ms:
        rr_ms = float(np.median(known_rr_ms))
    else:
        rr_ms = 1000.0
        notes.append(f"{view}: no trigger times or RR interval; assumed 1000 ms, evenly spaced")
    slice_rr_ms = np.array([_clip_rr_ms(c) or rr_ms for c in clips])
    timed = [c.trigger_times_ms for c in clips if c.trigger_times_ms is not None]
    same_count = [t for t in timed if len(t) == n_phases]
    if same_count:
        target_ms = np.median(np.stack(same_count), axis=0)
    else:
        target_ms = np.arange(n_phases, dtype=np.float64) * rr_ms / n_phases
    return ViewPlan(view, tuple(clips), n_phases, target_ms, rr_ms, slice_rr_ms)


def _clip_rr_ms(clip: SliceClip) -> float | None:
    """NominalInterval when present and longer than the last trigger time, else the last
    trigger time plus the median step; None when neither is known. Slices of one stack are
    acquired over different heartbeats, so each has its own."""
    nominal = [f.nominal_interval_ms for f in clip.frames if f.nominal_interval_ms]
    times = clip.trigger_times_ms
    last_ms = float(times[-1]) if times is not None else 0.0
    if nominal and float(np.median(nominal)) > last_ms:
        return float(np.median(nominal))
    if times is not None and len(times) > 1:
        return last_ms + float(np.median(np.diff(times)))
    return None
