"""How well the archive answers, on studies whose ground truth is known (a synthetic manifest).

- Phrase -> study search: for every prompt of the findings condition set, precision@k of the
  archive's top k studies against the manifest's label_<condition> columns (beside the
  condition's prevalence, which is what random retrieval scores).
- Draft findings: each study's draft (its stored embedding, its findings, its nearest cases
  other than itself) against the ground truth, per finding: precision, recall, F1.
"""

from collections import Counter
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from app.archive.indexer import ManifestStudy
from app.archive.models import CaseArchive
from app.pipeline.service import Pipeline
from app.reporting.workflow import FINDINGS_SET, draft_for_embedding


class PromptPrecision(BaseModel):
    prompt: str
    precision: float


class PhraseSearch(BaseModel):
    precision: float  # mean over the condition's prompts
    prevalence: float
    prompts: list[PromptPrecision]


class FindingAgreement(BaseModel):
    precision: float | None
    recall: float | None
    f1: float | None
    support: int  # studies with the finding
    predicted: int  # drafts stating it


class ArchiveEvaluation(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    condition_set: str
    studies: int
    sites: dict[str, int]
    k: int
    similar_cases: int
    phrase_search: dict[str, PhraseSearch]
    mean_precision_at_k: float
    draft_findings: dict[str, FindingAgreement]
    macro_f1: float


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _agreement(truth: np.ndarray, predicted: np.ndarray) -> FindingAgreement:
    tp = int(np.sum(truth & predicted))
    f1 = _ratio(2 * tp, int(truth.sum() + predicted.sum()))
    return FindingAgreement(
        precision=_ratio(tp, int(predicted.sum())),
        recall=_ratio(tp, int(truth.sum())),
        f1=f1,
        support=int(truth.sum()),
        predicted=int(predicted.sum()),
    )


async def evaluate_archive(
    pipeline: Pipeline,
    archive: CaseArchive,
    studies: Sequence[ManifestStudy],
    k: int = 10,
    similar_k: int = 5,
) -> ArchiveEvaluation:
    """Raises ValueError unless the archive holds exactly the manifest's studies (search
    results outside the manifest would have no ground truth)."""
    keys = [s.record.study_key for s in studies]
    missing = set(keys) - archive.contains(keys)
    if missing or archive.count() != len(keys):
        raise ValueError(
            f"the archive must hold exactly the manifest's {len(keys)} studies "
            f"({len(missing)} missing, {archive.count()} archived): index this manifest first"
        )
    labels = {s.record.study_key: s.labels for s in studies}
    phrase_search = await _phrase_search(pipeline, archive, labels, k)
    agreement = await _draft_agreement(pipeline, archive, labels, similar_k)
    return ArchiveEvaluation(
        model_version=pipeline.card.version,
        condition_set=FINDINGS_SET,
        studies=len(keys),
        sites=dict(Counter(s.record.site or "(unknown)" for s in studies)),
        k=k,
        similar_cases=similar_k,
        phrase_search=phrase_search,
        mean_precision_at_k=float(np.mean([p.precision for p in phrase_search.values()])),
        draft_findings=agreement,
        macro_f1=float(np.mean([a.f1 for a in agreement.values() if a.f1 is not None])),
    )


async def _phrase_search(
    pipeline: Pipeline, archive: CaseArchive, labels: dict[str, dict[str, bool]], k: int
) -> dict[str, PhraseSearch]:
    """Per condition: precision@k of each of its prompts as a search phrase."""
    results: dict[str, PhraseSearch] = {}
    for condition in pipeline.condition_sets[FINDINGS_SET].conditions:
        vectors = await pipeline.text.prompts(condition.prompts, request_id="archive-eval")
        prompts = []
        for prompt, vector in zip(condition.prompts, vectors, strict=True):
            hits = archive.search(vector, k)
            relevant = sum(labels[hit.study_key][condition.label] for hit in hits)
            prompts.append(PromptPrecision(prompt=prompt, precision=relevant / max(len(hits), 1)))
        results[condition.label] = PhraseSearch(
            precision=float(np.mean([p.precision for p in prompts])),
            prevalence=float(np.mean([study[condition.label] for study in labels.values()])),
            prompts=prompts,
        )
    return results


async def _draft_agreement(
    pipeline: Pipeline,
    archive: CaseArchive,
    labels: dict[str, dict[str, bool]],
    similar_k: int,
) -> dict[str, FindingAgreement]:
    """Per finding: the drafts' statements (each study's stored embedding, its nearest cases
    other than itself) against the ground truth."""
    conditions = pipeline.condition_sets[FINDINGS_SET].labels
    truth = np.array([[study[c] for c in conditions] for study in labels.values()], bool)
    predicted = np.zeros_like(truth)
    for row, key in enumerate(labels):
        stored = archive.get(key)
        assert stored is not None  # evaluate_archive checked every key
        draft, _ = await draft_for_embedding(
            pipeline,
            archive,
            np.array(stored.vector, np.float32),
            similar_k,
            "archive-eval",
            {},
            exclude_uid_digest=stored.uid_digest,
        )
        predicted[row] = [c in draft.asserted for c in conditions]
    return {
        label: _agreement(truth[:, column], predicted[:, column])
        for column, label in enumerate(conditions)
    }
