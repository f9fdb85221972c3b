"""The steps from a study embedding to a draft, shared by POST /v1/report and the evaluation."""

import asyncio

import numpy as np

from app.archive.models import CaseArchive, SearchHit
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
) -> tuple[Draft, list[SearchHit]]:
    """Findings (shipped findings set, calibrated thresholds) and the `similar_k` nearest
    archived cases of one unit study embedding (D,) -> the draft and those cases. Raises the
    backend's and the archive's CmrErrors."""
    scoring_set = ScoringSet.shipped(pipeline.condition_sets[FINDINGS_SET])
    scores = await pipeline.score(embedding, scoring_set, request_id, timings_ms)
    similar = await asyncio.to_thread(
        archive.search, embedding, similar_k, None, exclude_uid_digest
    )
    return draft_impression(scores, similar), similar
