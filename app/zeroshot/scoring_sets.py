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
from app.zeroshot.prototypes import PROTOTYPE_WEIGHT, Prototype
from app.zeroshot.scoring import (
    ensemble,
    exclusive_probabilities,
    platt_probabilities,
)

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
    prototypes: tuple[str | None, ...] = ()  # a registered prototype's name per condition

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
        prototypes: Sequence[str | None] = (),
    ) -> "ScoringSet":
        """From (label, prompts, negative_prompts) triples and, optionally, a prototype name
        per condition; hashed like a shipped set (prototype names included)."""
        rows = [[label, list(p), list(n)] for label, p, n in conditions]
        if any(prototypes):
            rows = [[*row, name] for row, name in zip(rows, prototypes, strict=True)]
        canonical = json.dumps(rows, separators=(",", ":"))
        return cls(
            name="custom",
            mode=mode,
            labels=tuple(label for label, _, _ in conditions),
            prompts=tuple(tuple(p) for _, p, _ in conditions),
            negative_prompts=tuple(tuple(n) for _, _, n in conditions),
            sha256=hashlib.sha256(canonical.encode()).hexdigest(),
            prototypes=tuple(prototypes) if any(prototypes) else (),
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


def embedding_dim(positives: Sequence[np.ndarray], prototypes: Sequence[Prototype | None]) -> int:
    """The embedding width, from the prompts or else a prototype."""
    for p in positives:
        if len(p):
            return int(p.shape[1])
    return next(len(p.positive) for p in prototypes if p is not None)


@dataclass(frozen=True)
class ConditionVectors:
    """What each condition's probability is computed from: its positive (C, D) and, in findings
    mode, negative (C, D) directions; per condition the sigmoid's slope and intercept on the
    margin (findings mode) and the calibration it amounts to."""

    positive: np.ndarray
    negative: np.ndarray | None
    slopes: np.ndarray
    intercepts: np.ndarray
    methods: list[CalibrationMethod]


def condition_vectors(
    scoring_set: ScoringSet,
    positives: Sequence[np.ndarray],
    negatives: Sequence[np.ndarray],
    logit_scale: float,
    calibration: Calibration,
    shipped: bool,
    prototypes: Sequence[Prototype | None] = (),
) -> ConditionVectors:
    """The vectors and calibration of each condition (see score_conditions). `positives` (and,
    in findings mode, `negatives`) hold per condition its unit prompt embeddings (P, D), P = 0
    for a condition of a prototype alone; `prototypes` its prototype or None (findings mode)."""
    labels = scoring_set.labels
    dim = embedding_dim(positives, prototypes)
    positive = np.stack([ensemble(p) if len(p) else np.zeros(dim) for p in positives])
    if scoring_set.mode == "exclusive":
        temperature = calibration.temperature if shipped else 1.0
        method: CalibrationMethod = "temperature" if temperature != 1.0 else "none"
        slopes = np.full(len(labels), logit_scale / temperature)
        return ConditionVectors(
            positive, None, slopes, np.zeros(len(labels)), [method] * len(labels)
        )
    negative = np.stack([ensemble(n) if len(n) else np.zeros(dim) for n in negatives])
    fits = calibration.findings if shipped else {}
    slopes = np.array([fits[x].slope if x in fits else logit_scale for x in labels])
    intercepts = np.array([fits[x].intercept if x in fits else 0.0 for x in labels])
    methods: list[CalibrationMethod] = ["platt" if x in fits else "none" for x in labels]
    for i, prototype in enumerate(prototypes):
        if prototype is None:
            continue
        mean, rest = np.array(prototype.positive), np.array(prototype.negative)
        if len(positives[i]):  # prompts and prototype: the blend, uncalibrated
            positive[i] = (1 - PROTOTYPE_WEIGHT) * positive[i] + PROTOTYPE_WEIGHT * mean
            negative[i] = (1 - PROTOTYPE_WEIGHT) * negative[i] + PROTOTYPE_WEIGHT * rest
            slopes[i], intercepts[i], methods[i] = logit_scale, 0.0, "none"
        else:
            positive[i], negative[i] = mean, rest
            fit = prototype.calibration
            slopes[i] = fit.slope if fit else logit_scale
            intercepts[i] = fit.intercept if fit else 0.0
            methods[i] = "platt" if fit else "none"
    return ConditionVectors(positive, negative, slopes, intercepts, methods)


def score_conditions(
    study_embedding: np.ndarray,
    scoring_set: ScoringSet,
    vectors: ConditionVectors,
) -> list[ConditionScore]:
    """Scores of one unit study embedding (D,), sorted by probability, descending.

    Calibration applies to a shipped set only, as it was fit on its prompts: exclusive mode
    divides by the card's temperature; findings mode Platt-scales each finding's
    positive-negative margin. A custom set is scored uncalibrated (softmax of scale * cos;
    sigmoid of scale * margin) and says so; a prototype condition as app/zeroshot/prototypes.py
    documents. In findings mode a finding is present when its probability reaches 0.5:
    calibrated, an even chance; uncalibrated, the positive side lying closer to the study than
    the negative one."""
    labels = scoring_set.labels
    if vectors.negative is None:
        scale = float(vectors.slopes[0])  # logit scale / temperature, one for all conditions
        probabilities, similarity = exclusive_probabilities(
            study_embedding[None], vectors.positive, scale
        )
        threshold = None
    else:
        similarity = study_embedding[None] @ vectors.positive.T
        margin = similarity - study_embedding[None] @ vectors.negative.T
        probabilities = platt_probabilities(margin, vectors.slopes, vectors.intercepts)
        threshold = DECISION_THRESHOLD
    order = np.argsort(-probabilities[0], kind="stable")
    return [
        ConditionScore(
            label=labels[i],
            probability=float(probabilities[0, i]),
            similarity=float(similarity[0, i]),
            rank=rank,
            threshold=threshold,
            calibration=vectors.methods[i],
        )
        for rank, i in enumerate(order, start=1)
    ]
