"""What one request is scored against (a shipped condition set or a custom list) and the
scoring policy: which question, which calibration, which thresholds, the ranking."""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.model_card import Calibration
from app.zeroshot.condition_sets import ConditionSet, Mode, prompt_set_hash
from app.zeroshot.scoring import ensemble, exclusive_probabilities, finding_probabilities

DEFAULT_SETS: dict[Mode, str] = {
    "exclusive": "cardiac_diagnosis_v1",
    "findings": "cardiac_findings_v1",
}


@dataclass(frozen=True)
class ScoringSet:
    """The conditions one request is scored against: a shipped set or a custom list."""

    name: str
    mode: Mode
    labels: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]
    negative_prompts: tuple[tuple[str, ...], ...]
    sha256: str

    @classmethod
    def shipped(cls, condition_set: ConditionSet) -> "ScoringSet":
        return cls(
            name=condition_set.name,
            mode=condition_set.mode,
            labels=condition_set.labels,
            prompts=tuple(c.prompts for c in condition_set.conditions),
            negative_prompts=tuple(c.negative_prompts for c in condition_set.conditions),
            sha256=prompt_set_hash(condition_set),
        )

    @classmethod
    def custom(
        cls,
        mode: Mode,
        conditions: Sequence[tuple[str, Sequence[str], Sequence[str]]],
    ) -> "ScoringSet":
        """From (label, prompts, negative_prompts) triples; hashed like a shipped set."""
        canonical = json.dumps(
            [[label, list(p), list(n)] for label, p, n in conditions], separators=(",", ":")
        )
        return cls(
            name="custom",
            mode=mode,
            labels=tuple(label for label, _, _ in conditions),
            prompts=tuple(tuple(p) for _, p, _ in conditions),
            negative_prompts=tuple(tuple(n) for _, _, n in conditions),
            sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        )

    def all_prompts(self) -> list[str]:
        return [p for group in (*self.prompts, *self.negative_prompts) for p in group]


CalibrationMethod = Literal["temperature", "platt", "none"]
DECISION_THRESHOLD = 0.5  # findings mode: present <=> probability >= 0.5


@dataclass(frozen=True)
class ConditionScore:
    label: str
    probability: float
    similarity: float
    rank: int
    threshold: float | None = None
    calibration: CalibrationMethod = "none"


def score_conditions(
    study_embedding: np.ndarray,
    scoring_set: ScoringSet,
    positives: Sequence[np.ndarray],
    negatives: Sequence[np.ndarray],
    logit_scale: float,
    calibration: Calibration,
    shipped: bool,
) -> list[ConditionScore]:
    """Scores of one unit study embedding (D,), sorted by probability, descending.

    `positives` (and, in findings mode, `negatives`) hold per condition its unit prompt
    embeddings (P, D). Calibration applies to a `shipped` set only, as it was fit on its
    prompts: exclusive mode divides by the card's temperature; findings mode Platt-scales each
    finding's positive-negative margin. A custom set is scored uncalibrated (softmax of
    scale * cos; sigmoid of scale * margin) and says so. In findings mode a finding is present
    when its probability reaches 0.5: calibrated, an even chance; uncalibrated, the positive
    prompts lying closer to the study than the negative ones."""
    positive = np.stack([ensemble(p) for p in positives])
    labels = scoring_set.labels
    if scoring_set.mode == "exclusive":
        temperature = calibration.temperature if shipped else 1.0
        probabilities, similarity = exclusive_probabilities(
            study_embedding[None], positive, logit_scale, temperature
        )
        methods: list[CalibrationMethod] = ["temperature" if temperature != 1.0 else "none"] * len(
            labels
        )
        threshold = None
    else:
        negative = np.stack([ensemble(n) for n in negatives])
        fits = calibration.findings if shipped else {}
        slopes = np.array([fits[x].slope if x in fits else logit_scale for x in labels])
        intercepts = np.array([fits[x].intercept if x in fits else 0.0 for x in labels])
        probabilities, similarity = finding_probabilities(
            study_embedding[None], positive, negative, logit_scale, (slopes, intercepts)
        )
        methods = ["platt" if x in fits else "none" for x in labels]
        threshold = DECISION_THRESHOLD
    order = np.argsort(-probabilities[0], kind="stable")
    return [
        ConditionScore(
            label=labels[i],
            probability=float(probabilities[0, i]),
            similarity=float(similarity[0, i]),
            rank=rank,
            threshold=threshold,
            calibration=methods[i],
        )
        for rank, i in enumerate(order, start=1)
    ]
