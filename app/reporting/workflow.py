"""The steps from a study embedding to a draft, shared by POST /v1/report and the evaluation."""

import asyncio

import numpy as np

from app.archive.models import CaseArchive, SearchHit
from app.inference.backend import VideoEmbeddings
from app.pipeline.explanation import explain_study
from app.pipeline.measure import measure_study
from app.pipeline.prepare import PreparedStudy
from app.pipeline.service import Pipeline
from app.reporting.draft import Draft, draft_impression
from app.zeroshot.scoring_sets import ScoringSet

FINDINGS_SET = "cardiac_findings_v1"


async def draft_for_embedding(
    pipeline: Pipeline,
    archive: CaseArchive,
    embedding: np.ndarray,
    similar_k: int,
    request_id: str,
    timings_ms: dict[str, float],
    exclude_uid_digest: str | None = None,
    study: tuple[PreparedStudy, VideoEmbeddings] | None = None,
) -> tuple[Draft, list[SearchHit]]:
    """Findings (shipped findings set, calibrated thresholds) and the `similar_k` nearest
    archived cases of one unit study embedding (D,) -> the draft and those cases. With the
    `study` (prepared, embedded) the draft also names the slices that drove each present
    finding (occlusion) and the measurements by prompt ranking. Raises the backend's and the
    archive's CmrErrors."""
    scoring_set = ScoringSet.shipped(pipeline.condition_sets[FINDINGS_SET])
    vectors = await pipeline.condition_vectors(scoring_set, request_id, timings_ms)
    scores = await pipeline.score(embedding, scoring_set, request_id, timings_ms, vectors)
    similar = await asyncio.to_thread(
        archive.search, embedding, similar_k, None, exclude_uid_digest
    )
    if study is None:
        return draft_impression(scores, similar), similar
    explained = await explain_study(pipeline, *study, scoring_set, vectors, request_id)
    driving = {label: c.in_words for label, c in explained.conditions.items()}
    measured = await measure_study(pipeline, embedding, request_id)
    return draft_impression(scores, similar, driving=driving, measurements=measured), similar
