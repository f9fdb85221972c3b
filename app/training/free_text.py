"""Free-text prompts never written by the generator: the clinician phrasing suite, scored on
held-out studies exactly as a user's custom prompt would be (one phrasing, no ensemble, no
calibration).

- per condition: the AUROC of cos(study, phrasing) for studies with against without the
  condition, averaged over the condition's phrasings; macro over conditions with both classes;
- the same protocol with the shipped positive prompts, so the two can be compared;
- negated phrasings: the share whose AUROC is below 0.5 (the negation points away);
- top-1: each primary diagnosis represented by the mean embedding of its phrasings, the study
  assigned to the nearest; the share assigned to its own diagnosis.
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from app.training import metrics
from app.training.data import StudyRecord
from app.zeroshot.condition_sets import ConditionSet
from app.zeroshot.prompt_suites import Phrasing
from app.zeroshot.scoring import ensemble

Encoder = Callable[[list[str]], np.ndarray]


def _per_prompt_auroc(studies: np.ndarray, labels: np.ndarray, prompts: np.ndarray) -> list[float]:
    similarity = studies @ prompts.T  # (N, P)
    return [metrics.auroc(similarity[:, j], labels) for j in range(prompts.shape[0])]


def _macro(per_condition: dict[str, float]) -> float:
    finite = [v for v in per_condition.values() if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def free_text_figures(
    encode: Encoder,
    studies: np.ndarray,
    records: list[StudyRecord],
    phrasings: Sequence[Phrasing],
    negated: Sequence[Phrasing],
    shipped: ConditionSet,
    diagnoses: list[str],
) -> dict[str, Any]:
    """`encode` maps texts to unit embeddings (T, D); `phrasings` and `negated` are one split
    of the suite; `shipped` the findings set whose positives are the comparison."""
    labels_of = {c: np.array([r.labels.get(c, 0) for r in records]) for c in shipped.labels}
    testable = [c for c in shipped.labels if 0 < labels_of[c].sum() < len(records)]
    per_condition, shipped_per_condition, negation = {}, {}, {}
    embedded: dict[str, np.ndarray] = {}
    for condition in testable:
        texts = [p.text for p in phrasings if p.label == condition]
        embedded[condition] = encode(texts)
        per_condition[condition] = float(
            np.mean(_per_prompt_auroc(studies, labels_of[condition], embedded[condition]))
        )
        prompts = next(c.prompts for c in shipped.conditions if c.label == condition)
        shipped_per_condition[condition] = float(
            np.mean(_per_prompt_auroc(studies, labels_of[condition], encode(list(prompts))))
        )
        negations = [p.text for p in negated if p.label == condition]
        if negations:
            values = _per_prompt_auroc(studies, labels_of[condition], encode(negations))
            negation[condition] = float(np.mean([v < 0.5 for v in values]))
    macro, shipped_macro = _macro(per_condition), _macro(shipped_per_condition)
    present = [d for d in diagnoses if d in embedded]
    truth = [r.primary_diagnosis for r in records]
    keep = [i for i, t in enumerate(truth) if t in present]
    top1 = float("nan")
    if len(present) >= 2 and keep:
        centroids = np.stack([ensemble(embedded[d]) for d in present])  # (K, D)
        chosen = (studies[keep] @ centroids.T).argmax(axis=1)
        top1 = float(np.mean([present[c] == truth[i] for c, i in zip(chosen, keep, strict=True)]))
    return {
        "n_studies": len(records),
        "n_phrasings": len(phrasings),
        "macro_auroc": macro,
        "per_condition_auroc": per_condition,
        "shipped_prompts_macro_auroc": shipped_macro,
        "ratio_to_shipped": macro / shipped_macro if shipped_macro else float("nan"),
        "negation_respected": negation,
        "top1_accuracy": top1,
        "top1_diagnoses": present,
    }


# Pairs a new user tries first (the CMR-CLIP 1.0 issue's probes): cosine of their embeddings.
PROBE_PAIRS = (
    ("xyzzy foo", "normal heart"),
    ("the left ventricle is dilated", "the left ventricle is not dilated"),
    ("thick septum", "hypertrophic cardiomyopathy"),
    ("fluid around the heart", "pericardial effusion"),
    ("old heart attack", "myocardial infarction"),
    ("right heart failure", "abnormal right ventricle"),
)
NEAREST_PROBES = ("right heart failure", "old heart attack", "thick septum", "weak heart pump")


def text_probes(encode: Encoder, conditions: Sequence[str]) -> dict[str, Any]:
    """Cosines of PROBE_PAIRS, and the condition (by its label in words) nearest each of
    NEAREST_PROBES."""
    pairs = {}
    for left, right in PROBE_PAIRS:
        a, b = encode([left, right])
        pairs[f"{left} | {right}"] = float(a @ b)
    names = [c.replace("_", " ") for c in conditions]
    centres = encode(names)
    nearest = {
        probe: conditions[int(np.argmax(centres @ vector))]
        for probe, vector in zip(NEAREST_PROBES, encode(list(NEAREST_PROBES)), strict=True)
    }
    return {"cosine": pairs, "nearest_condition": nearest}
