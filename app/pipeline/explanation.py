"""A study's explanation: for every scored condition, the contribution of each clip and each
phase window (app/zeroshot/explain.py documents the method), and the slices that drove it."""

import time
from dataclasses import dataclass

import numpy as np

from app.errors import ExplanationUnavailableError
from app.inference.backend import VideoBatch, VideoEmbeddings
from app.pipeline.prepare import PreparedStudy, elapsed_ms
from app.pipeline.service import Pipeline
from app.zeroshot.explain import (
    PHASE_WINDOWS,
    PoolingMismatchError,
    hold_still,
    levels_in_words,
    normalised,
    occlusion,
    slice_level,
    window_frames,
)
from app.zeroshot.scoring_sets import ConditionVectors, ScoringSet

DRIVING = 2  # the clips named as having driven a condition: the two largest positive weights
VIEW_WORDS = {"4ch": "4-chamber", "2ch": "2-chamber", "3ch": "3-chamber"}


@dataclass(frozen=True)
class ClipInfo:
    index: int
    view: str  # "sax" or a long-axis view
    slice_index: int | None  # short axis: 0 = base
    level: str | None  # basal, mid, apical


@dataclass(frozen=True)
class ConditionExplanation:
    label: str
    clip_weights: list[float]  # per clip, signed, sum of |w| = 1; absent views 0
    window_weights: list[float]  # per phase window, likewise
    driving_clips: list[int]  # up to DRIVING clips with positive weight, largest first
    in_words: str  # "basal to mid short-axis slices", "" when no clip argued for it


@dataclass(frozen=True)
class StudyExplanation:
    clips: list[ClipInfo]
    conditions: dict[str, ConditionExplanation]
    mid_slice: np.ndarray  # (H, W) end-diastolic frame of the mid short-axis slice, model input


def clip_infos(sax_slices: int, lax_views: list[str], present: np.ndarray) -> list[ClipInfo]:
    sax = [ClipInfo(i, "sax", i, slice_level(i, sax_slices)) for i in range(sax_slices)]
    lax = [
        ClipInfo(sax_slices + j, view, None, None) for j, view in enumerate(lax_views) if present[j]
    ]
    return sax + lax


def _in_words(clips: list[ClipInfo], driving: list[int], sax_slices: int) -> str:
    chosen = [c for c in clips if c.index in driving]
    sax = [c.slice_index for c in chosen if c.slice_index is not None]
    parts = [levels_in_words(sax, sax_slices)] if sax else []
    parts += [f"{VIEW_WORDS.get(c.view, c.view)} view" for c in chosen if c.view != "sax"]
    return " and ".join(p for p in parts if p)


async def explain_study(
    pipeline: Pipeline,
    prepared: PreparedStudy,
    embeddings: VideoEmbeddings,
    scoring_set: ScoringSet,
    vectors: ConditionVectors,
    request_id: str,
) -> StudyExplanation:
    """Occlusion of every clip (no re-encoding) and of every phase window (one batch of
    re-encoded studies, the motion of one window removed in each). Raises the backend's errors
    and ExplanationUnavailableError."""
    started = time.perf_counter()
    model_input = prepared.model_input
    sax, lax = model_input.sax.astype(np.float32), model_input.lax.astype(np.float32)
    held = [window_frames(sax.shape[1], w) for w in PHASE_WINDOWS.values()]
    batch = VideoBatch(
        sax=np.stack([hold_still(sax, f) for f in held]),
        lax=np.stack([hold_still(lax, f) for f in held]),
        lax_present=np.repeat(model_input.lax_present[None], len(held), 0).astype(np.float32),
    )
    windows = await pipeline.backend.encode_video(batch, request_id)
    spec = pipeline.card.input_spec
    present = np.r_[np.ones(spec.sax_slices, dtype=bool), model_input.lax_present]
    try:
        result = occlusion(
            embeddings.study[0],
            embeddings.clips[0],
            present,
            windows.study,
            vectors.positive,
            vectors.negative,
        )
    except PoolingMismatchError as exc:
        raise ExplanationUnavailableError(str(exc)) from None
    clips = clip_infos(spec.sax_slices, list(spec.lax_views), model_input.lax_present)
    kept = [c.index for c in clips]
    conditions = {}
    for i, label in enumerate(scoring_set.labels):
        weights = normalised(result.clips[i])
        order = [j for j in np.argsort(-weights, kind="stable") if weights[j] > 0 and present[j]]
        driving = [int(j) for j in order[:DRIVING]]
        conditions[label] = ConditionExplanation(
            label=label,
            clip_weights=[float(weights[j]) for j in kept],
            window_weights=normalised(result.windows[i]).tolist(),
            driving_clips=driving,
            in_words=_in_words(clips, driving, spec.sax_slices),
        )
    prepared.timings_ms["explain"] = elapsed_ms(started)
    return StudyExplanation(clips, conditions, sax[spec.sax_slices // 2, 0])
