"""Cine clips -> stacks of parallel slices, across series.

Vendors differ: one series may hold a whole short-axis stack (GE, Sunnybrook: 12 positions x 20
phases) or every slice may be its own series (Siemens). Clips are therefore grouped by frame of
reference and plane normal first, series second:
- a series with several positions is a stack of its own;
- single-position series that are parallel and share matrix and spacing are pooled into one;
- clips that are parallel but differ in matrix or spacing are separate stacks when each is
  clearly a stack; a series, or a short run of slices inside another stack's span, that mixes
  geometries is an InconsistentGeometryError, as are slices off the line along the normal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from app.dicom.clips import SAME_POSITION_MM, SliceClip
from app.errors import InconsistentGeometryError

PARALLEL_DEG = 5.0
MIN_STACK_SLICES = 3  # fewer parallel slices than this are not "clearly a stack"
MAX_OFF_LINE_MM = 5.0  # in-plane offset between slice origins of one stack


@dataclass(frozen=True)
class Stack:
    """Parallel clips of one geometry, sorted by position along `normal`. May be one clip."""

    clips: tuple[SliceClip, ...]
    normal: np.ndarray  # float64 (3,) unit normal all positions are projected on

    @cached_property
    def along_mm(self) -> np.ndarray:
        """Position of each clip along the normal, float64 (S,), ascending."""
        return np.array([c.position_mm @ self.normal for c in self.clips])

    @property
    def n_slices(self) -> int:
        return len(self.clips)

    @property
    def n_phases(self) -> int:
        return Counter(c.n_phases for c in self.clips).most_common(1)[0][0]

    @property
    def spacing_mm(self) -> float:
        return float(np.median(np.diff(self.along_mm))) if self.n_slices > 1 else 0.0

    @property
    def completeness(self) -> tuple[int, int, int]:
        """Ranks candidates of one view: images, then slices, then the later series."""
        latest = max(c.first.series_number or 0 for c in self.clips)
        return (sum(c.n_phases for c in self.clips), self.n_slices, latest)

    @property
    def series_description(self) -> str:
        named = Counter(
            c.first.series_description for c in self.clips if c.first.series_description
        )
        return named.most_common(1)[0][0] if named else ""

    @property
    def series_uids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.first.series_uid for c in self.clips))

    @property
    def label(self) -> str:
        """How warnings name this candidate: series numbers and description only."""
        uids = self.series_uids
        if len(uids) == 1:
            return self.clips[0].series_label
        numbers = sorted({c.first.series_number for c in self.clips} - {None})
        span = f"{numbers[0]}-{numbers[-1]}" if numbers else "?"
        return f"{len(uids)} series ({span})"

    @property
    def shape_text(self) -> str:
        return f"{self.n_slices} slices x {self.n_phases} phases"


def assemble_stacks(clips: Sequence[SliceClip], notes: list[str]) -> list[Stack]:
    """Group cine clips into stacks of parallel slices (see the module docstring).

    Raises InconsistentGeometryError for mixed geometry inside one stack.
    """
    stacks: list[Stack] = []
    for group in _parallel_groups(clips):
        normal = group[0].normal
        by_geometry: dict[tuple[int, int, float, float], list[SliceClip]] = {}
        for c in group:
            by_geometry.setdefault(c.geometry_key, []).append(c)
        _require_series_consistent(by_geometry)
        group_stacks = [
            s for members in by_geometry.values() for s in _split_by_series(members, normal, notes)
        ]
        if len(by_geometry) > 1:
            _require_no_intruders(group_stacks)
        for s in group_stacks:
            _require_on_one_line(s)
        stacks.extend(group_stacks)
    return stacks


def _parallel_groups(clips: Sequence[SliceClip]) -> list[list[SliceClip]]:
    """Clips of one frame of reference whose normals are within PARALLEL_DEG (either sign)."""
    cos_tol = np.cos(np.deg2rad(PARALLEL_DEG))
    groups: list[list[SliceClip]] = []
    for c in clips:
        for g in groups:
            ref = g[0]
            same_frame = ref.frame_of_reference == c.frame_of_reference
            if same_frame and abs(float(ref.normal @ c.normal)) > cos_tol:
                g.append(c)
                break
        else:
            groups.append([c])
    return groups


def _require_series_consistent(by_geometry: dict[tuple, list[SliceClip]]) -> None:
    owners: dict[str, tuple] = {}
    for key, members in by_geometry.items():
        for c in members:
            previous = owners.setdefault(c.first.series_uid, key)
            if previous != key:
                raise InconsistentGeometryError(
                    f"{c.series_label}: slices differ in matrix size or pixel spacing "
                    f"({previous[0]}x{previous[1]} at {previous[2]} mm vs "
                    f"{key[0]}x{key[1]} at {key[2]} mm)"
                )


def _split_by_series(members: list[SliceClip], normal: np.ndarray, notes: list[str]) -> list[Stack]:
    """Multi-position series are stacks of their own; single-position series are pooled."""
    by_series: dict[str, list[SliceClip]] = {}
    for c in members:
        by_series.setdefault(c.first.series_uid, []).append(c)
    stacks = [_stack(cs, normal) for cs in by_series.values() if len(cs) > 1]
    singles = [cs[0] for cs in by_series.values() if len(cs) == 1]
    if singles:
        stacks.append(_stack(_one_per_position(singles, normal, notes), normal))
    return stacks


def _one_per_position(
    singles: list[SliceClip], normal: np.ndarray, notes: list[str]
) -> list[SliceClip]:
    """Among single-slice series at the same position keep the most complete, then the latest."""
    ordered = sorted(singles, key=lambda c: float(c.position_mm @ normal))
    kept: list[SliceClip] = []
    for c in ordered:
        if kept and abs(float((c.position_mm - kept[-1].position_mm) @ normal)) <= SAME_POSITION_MM:
            rank = (c.n_phases, c.first.series_number or 0)
            prev = kept[-1]
            best, other = (
                (c, prev) if rank > (prev.n_phases, prev.first.series_number or 0) else (prev, c)
            )
            kept[-1] = best
            notes.append(
                f"two series image the same slice position: used {best.series_label}, "
                f"ignored {other.series_label}"
            )
        else:
            kept.append(c)
    return kept


def _stack(clips: list[SliceClip], normal: np.ndarray) -> Stack:
    ordered = sorted(clips, key=lambda c: float(c.position_mm @ normal))
    return Stack(clips=tuple(ordered), normal=normal)


def _require_no_intruders(stacks: list[Stack]) -> None:
    """A few slices of another geometry inside a stack's span are a broken stack, not two."""
    for small in (s for s in stacks if s.n_slices < MIN_STACK_SLICES):
        for big in (s for s in stacks if s.n_slices >= MIN_STACK_SLICES):
            margin = big.spacing_mm / 2
            lo, hi = big.along_mm[0] - margin, big.along_mm[-1] + margin
            if np.any((small.along_mm > lo) & (small.along_mm < hi)):
                raise InconsistentGeometryError(
                    f"{small.label} lies inside the stack of {big.label} but differs from it "
                    "in matrix size or pixel spacing"
                )


def _require_on_one_line(stack: Stack) -> None:
    """Slice origins must differ only along the normal (up to MAX_OFF_LINE_MM)."""
    if stack.n_slices < 2:
        return
    positions = np.array([c.position_mm for c in stack.clips])  # (S, 3)
    in_plane = positions - np.outer(positions @ stack.normal, stack.normal)  # (S, 3)
    off_line_mm = np.linalg.norm(in_plane - np.median(in_plane, axis=0), axis=1)
    if off_line_mm.max() > MAX_OFF_LINE_MM:
        raise InconsistentGeometryError(
            f"{stack.label}: slice positions do not lie on one line along the plane normal "
            f"(off by up to {off_line_mm.max():.1f} mm)"
        )
