"""Series selection on synthetic frame headers: rules, stacks, views, order, timing."""

from __future__ import annotations

import random

import numpy as np
import pytest

from app.config import IngestLimits
from app.dicom.frames import FrameHeader
from app.dicom.series import APEX_DIRECTION_LPS, select_views
from app.errors import InconsistentGeometryError, NoCineSeriesError

LIMITS = IngestLimits()


def orientation_for(normal: tuple[float, float, float]) -> tuple[float, ...]:
    """An ImageOrientationPatient whose row x column is `normal`."""
    n = np.asarray(normal, dtype=float) / np.linalg.norm(normal)
    helper = np.array([0.0, 0.0, 1.0]) if abs(n[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    row = np.cross(helper, n)
    row /= np.linalg.norm(row)
    col = np.cross(n, row)
    return (*row, *col)


SAX_NORMAL = tuple(-APEX_DIRECTION_LPS)  # pointing to the base, as scanners often do
FOUR_CH_NORMAL = (0.3, 0.2, 0.93)
TWO_CH_NORMAL = (0.7, 0.7, 0.14)


def clip(
    series: str,
    position: tuple[float, float, float] = (0.0, 0.0, 0.0),
    normal: tuple[float, float, float] = SAX_NORMAL,
    n_phases: int = 10,
    step_ms: float = 50.0,
    **overrides: object,
) -> list[FrameHeader]:
    """Frames of one slice position over the cycle."""
    fields: dict[str, object] = {
        "dataset_index": 0,
        "frame_index": 0,
        "has_geometry": True,
        "series_uid": series,
        "study_uid": "1.2.3",
        "frame_of_reference_uid": "1.2.3.4",
        "modality": "MR",
        "series_number": int(series.rsplit(".", 1)[-1]) if series[-1].isdigit() else None,
        "series_description": "",
        "instance_number": 1,
        "trigger_time_ms": 0.0,
        "temporal_position_index": None,
        "in_stack_position": None,
        "position_mm": position,
        "orientation": orientation_for(normal),
        "pixel_spacing_mm": (1.5, 1.5),
        "rows": 64,
        "cols": 64,
        "cardiac_number_of_images": n_phases,
        "nominal_interval_ms": None,
        "manufacturer": "ACME",
        "rescale_slope": 1.0,
        "rescale_intercept": 0.0,
        "photometric": "MONOCHROME2",
    }
    fields.update(overrides)
    phases = [{"trigger_time_ms": k * step_ms, "instance_number": k + 1} for k in range(n_phases)]
    return [FrameHeader(**{**fields, **phase}) for phase in phases]  # type: ignore[arg-type]


def stack(
    series: str, n_slices: int, spacing_mm: float = 10.0, normal=SAX_NORMAL, **kw: object
) -> list[FrameHeader]:
    n = np.asarray(normal) / np.linalg.norm(normal)
    origin = np.array([10.0, -20.0, 30.0])
    frames: list[FrameHeader] = []
    for s in range(n_slices):
        position = tuple(float(v) for v in origin + s * spacing_mm * n)
        frames += clip(series, position, normal, **kw)  # type: ignore[arg-type]
    return frames


def shuffled(frames: list[FrameHeader]) -> list[FrameHeader]:
    out = list(frames)
    random.Random(0).shuffle(out)
    return out


def test_sax_stack_is_ordered_base_to_apex_whatever_the_normal_sign() -> None:
    for normal in (SAX_NORMAL, tuple(APEX_DIRECTION_LPS)):
        plan = select_views(shuffled(stack("1.1", 6, normal=normal)), LIMITS).views["sax"]
        along_apex = [float(c.position_mm @ APEX_DIRECTION_LPS) for c in plan.slices]
        assert along_apex == sorted(along_apex)
        assert plan.n_phases == 10
        assert all(list(c.trigger_times_ms) == sorted(c.trigger_times_ms) for c in plan.slices)


@pytest.mark.parametrize(
    ("description", "view"),
    [
        ("CINE_4CH", "4ch"),
        ("trufi 4 ch", "4ch"),
        ("Four Chamber cine", "4ch"),
        ("HLA", "4ch"),
        ("cine_2ch", "2ch"),
        ("tf2d_VLA", "2ch"),
        ("two chamber", "2ch"),
        ("cine LVOT", "3ch"),
        ("3CH", "3ch"),
        ("SAX single", "sax"),
        ("sa_cine", "sax"),
        ("short axis", "sax"),
    ],
)
def test_series_description_keywords_name_the_view(description: str, view: str) -> None:
    frames = clip("1.5", normal=TWO_CH_NORMAL, series_description=description)
    assert list(select_views(frames, LIMITS).views) == [view]


@pytest.mark.parametrize(("normal", "view"), [(FOUR_CH_NORMAL, "4ch"), (TWO_CH_NORMAL, "2ch")])
def test_long_axis_view_from_geometry_without_description(normal, view: str) -> None:
    frames = clip("1.5", normal=normal, series_description="cine_retro sag")  # no keyword
    assert list(select_views(frames, LIMITS).views) == [view]


def test_full_study_one_series_per_slice_like_siemens() -> None:
    frames: list[FrameHeader] = []
    for s in range(8):
        one = stack("x", 8)[s * 10 : (s + 1) * 10]
        frames += [_with(f, series_uid=f"1.{s + 10}", series_number=s + 10) for f in one]
    frames += clip("1.30", normal=FOUR_CH_NORMAL, series_description="4ch")
    frames += clip("1.31", normal=TWO_CH_NORMAL, series_description="2ch")
    frames += clip("1.32", normal=(0.6, 0.75, 0.3), series_description="lvot")
    selection = select_views(shuffled(frames), LIMITS)
    assert sorted(selection.views) == ["2ch", "3ch", "4ch", "sax"]
    assert len(selection.views["sax"].slices) == 8
    assert selection.warnings == []


def test_orientation_jitter_within_a_series_is_one_plane() -> None:
    frames = [
        _with(f, orientation=tuple(np.add(f.orientation, 4e-4 if i % 3 else -4e-4)))
        for i, f in enumerate(stack("1.1", 5))
    ]
    plan = select_views(shuffled(frames), LIMITS).views["sax"]
    assert len(plan.slices) == 5 and plan.n_phases == 10


def test_single_slice_series_in_different_frames_of_reference_are_not_pooled() -> None:
    frames = [
        _with(f, series_uid=f"1.{10 + i // 10}", frame_of_reference_uid=f"9.{i // 20}")
        for i, f in enumerate(stack("x", 4))
    ]  # series 10, 11 in one frame of reference, 12, 13 in another
    selection = select_views(frames, LIMITS)
    assert "sax" not in selection.views  # two 2-slice groups, never one 4-slice stack
    pooled = select_views([_with(f, frame_of_reference_uid="9.0") for f in frames], LIMITS)
    assert len(pooled.views["sax"].slices) == 4


def test_same_position_in_two_single_slice_series_keeps_the_most_complete() -> None:
    frames = stack("1.2", 1) + stack("1.3", 1, n_phases=12)
    frames += [
        _with(f, series_uid=f"1.{4 + i // 10}", series_number=4 + i // 10)
        for i, f in enumerate(stack("x", 4)[10:])
    ]
    selection = select_views(frames, LIMITS)
    plan = selection.views["sax"]
    assert len(plan.slices) == 4 and plan.slices[0].n_phases in (10, 12)
    assert any("same slice position" in w and "used series 3" in w for w in selection.warnings)


def test_most_complete_of_two_sax_stacks_is_used_with_a_warning() -> None:
    frames = stack("1.7", 8) + stack("1.8", 5, rows=128, cols=128, pixel_spacing_mm=(0.8, 0.8))
    selection = select_views(frames, LIMITS)
    assert selection.views["sax"].slices[0].first.series_uid == "1.7"
    assert any("sax: used series 7" in w and "ignored series 8" in w for w in selection.warnings)


def test_non_cine_images_are_ignored_with_a_count() -> None:
    localizer = clip("1.9", normal=(0.0, 0.0, 1.0), n_phases=1) + clip(
        "1.9", (0, 0, 20), n_phases=1
    )
    selection = select_views(stack("1.1", 4) + localizer, LIMITS)
    assert list(selection.views) == ["sax"]
    assert any("ignored 2 non-cine images" in w for w in selection.warnings)


def test_no_cine_clip_at_all() -> None:
    with pytest.raises(NoCineSeriesError):
        select_views(stack("1.1", 4, n_phases=1), LIMITS)


def test_a_stack_of_key_frames_is_taken_when_no_cine_is_there() -> None:
    selection = select_views(stack("1.1", 4, n_phases=3), LIMITS)
    assert list(selection.views) == ["sax"] and selection.views["sax"].n_phases == 3
    assert any(w.startswith("key frames only: at most 3 phases") for w in selection.warnings)


def test_key_frames_never_compete_with_a_cine() -> None:
    frames = stack("1.1", 4) + stack("1.2", 4, n_phases=2)
    selection = select_views(frames, LIMITS)
    assert selection.views["sax"].n_phases > 2
    assert not any("key frames" in w for w in selection.warnings)


def test_non_mr_and_geometry_free_images_are_ignored() -> None:
    frames = stack("1.1", 4) + clip("1.2", modality="CT") + clip("1.3", has_geometry=False)
    selection = select_views(frames, LIMITS)
    assert list(selection.views) == ["sax"]
    assert any("modality other than MR" in w for w in selection.warnings)
    assert any("without geometry" in w for w in selection.warnings)


def test_stray_single_slice_parallel_to_the_stack_is_not_a_long_axis() -> None:
    frames = stack("1.1", 5) + clip("1.2", (100.0, 0.0, 0.0))
    selection = select_views(frames, LIMITS)
    assert list(selection.views) == ["sax"]
    assert any("parallel to the short-axis stack" in w for w in selection.warnings)


def test_slices_off_the_line_along_the_normal_are_inconsistent() -> None:
    frames = stack("1.1", 5)
    shifted = [
        _with(f, position_mm=tuple(np.add(f.position_mm, (0.0, 0.0, 0.0)) + _inplane(20.0)))
        if i >= 20 and i < 30
        else f
        for i, f in enumerate(frames)
    ]
    with pytest.raises(InconsistentGeometryError, match="one line"):
        select_views(shuffled(shifted), LIMITS)


def test_matrix_change_inside_one_series_is_inconsistent() -> None:
    frames = [_with(f, rows=128) if 20 <= i < 30 else f for i, f in enumerate(stack("1.1", 5))]
    with pytest.raises(InconsistentGeometryError):
        select_views(frames, LIMITS)


def test_spacing_change_within_one_slice_is_inconsistent() -> None:
    frames = [
        _with(f, pixel_spacing_mm=(1.2, 1.2)) if i == 3 else f
        for i, f in enumerate(stack("1.1", 5))
    ]
    with pytest.raises(InconsistentGeometryError):
        select_views(frames, LIMITS)


def test_one_slice_of_another_matrix_inside_a_stack_is_inconsistent() -> None:
    frames: list[FrameHeader] = []
    for i, f in enumerate(stack("x", 6)):
        s = i // 10
        extra = {"rows": 128} if s == 2 else {}
        frames.append(_with(f, series_uid=f"1.{s + 10}", series_number=s + 10, **extra))
    with pytest.raises(InconsistentGeometryError, match="inside the stack"):
        select_views(frames, LIMITS)


def test_phases_ordered_by_instance_number_without_trigger_times() -> None:
    frames = [_with(f, trigger_time_ms=None) for f in stack("1.1", 4)]
    plan = select_views(shuffled(frames), LIMITS).views["sax"]
    assert all([f.instance_number for f in c.frames] == list(range(1, 11)) for c in plan.slices)
    assert all(c.trigger_times_ms is None for c in plan.slices)


def test_unequal_phase_counts_target_the_most_common_count() -> None:
    fifth_slice_9_phases = stack("1.1", 5, n_phases=9, step_ms=500 / 9)[36:]
    frames = stack("1.1", 4) + fifth_slice_9_phases
    selection = select_views(frames, LIMITS)
    assert selection.views["sax"].n_phases == 10
    assert any("9 to 10 phases; resampled in time to 10" in w for w in selection.warnings)


def test_rr_interval_from_nominal_interval_else_estimated() -> None:
    nominal = select_views(stack("1.1", 4, nominal_interval_ms=900.0), LIMITS)
    assert nominal.views["sax"].rr_interval_ms == 900.0
    estimated = select_views(stack("1.1", 4), LIMITS)  # triggers 0..450 step 50
    assert estimated.views["sax"].rr_interval_ms == pytest.approx(500.0)
    too_short = select_views(stack("1.1", 4, nominal_interval_ms=300.0), LIMITS)
    assert too_short.views["sax"].rr_interval_ms == pytest.approx(500.0)


def _with(frame: FrameHeader, **changes: object) -> FrameHeader:
    from dataclasses import replace

    return replace(frame, **changes)  # type: ignore[arg-type]


def _inplane(distance_mm: float) -> np.ndarray:
    row = np.asarray(orientation_for(SAX_NORMAL)[:3])
    return distance_mm * row
