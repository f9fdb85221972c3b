"""Calibration of the shipped condition sets, fit on the validation split only.

- exclusive (softmax over diagnoses): one temperature, kept only when it lowers the ECE of
  held-out validation studies (5-fold cross-validation inside the validation split: fit on four
  folds, measure on the fifth); otherwise none is applied (temperature 1).
- findings (positive vs negative ensemble per finding): Platt scaling of the margin
  cos(positive) - cos(negative), per finding, so that `present` <=> probability >= 0.5. A
  finding without both classes in the validation split keeps the uncalibrated sigmoid.

Custom prompt sets are never calibrated: no fit exists for prompts nobody validated.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.training import metrics
from app.training.data import StudyRecord
from app.zeroshot.scoring import exclusive_probabilities

FOLDS = 5


@dataclass
class Calibration:
    temperature: float  # 1.0 when none is kept
    temperature_kept: bool
    temperature_evidence: dict[str, float]  # cross-validated ECE without and with
    platt: dict[str, tuple[float, float]]  # finding -> (slope, intercept) of the margin
    findings_ensembles: tuple[np.ndarray, np.ndarray]  # positives, negatives (C, D)
    diagnosis_ensembles: np.ndarray  # (C, D)

    def platt_arrays(self, findings: list[str], logit_scale: float) -> tuple[np.ndarray, ...]:
        """(slopes, intercepts) (C,) for `findings`; the uncalibrated sigmoid's (scale, 0)
        where a finding has no fit."""
        fits = [self.platt.get(name, (logit_scale, 0.0)) for name in findings]
        return np.array([f[0] for f in fits]), np.array([f[1] for f in fits])


def _cross_validated_temperature(logits: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pooled out-of-fold probabilities with and without a temperature fit on the other folds."""
    fold = np.arange(len(truth)) % FOLDS
    raw = metrics.softmax(logits)
    scaled = np.zeros_like(raw)
    for k in range(FOLDS):
        held = fold == k
        scaled[held] = metrics.softmax(
            logits[held], metrics.fit_temperature(logits[~held], truth[~held])
        )
    return {
        "ece_without": metrics.expected_calibration_error(raw, truth),
        "ece_with": metrics.expected_calibration_error(scaled, truth),
    }


def fit_calibration(
    studies: np.ndarray,
    records: list[StudyRecord],
    diagnoses: list[str],
    findings: list[str],
    ensembles: dict[str, Any],
    logit_scale: float,
) -> Calibration:
    """studies (N, D) unit embeddings of the validation split; `ensembles` holds
    'diagnosis' (C, D) and 'findings' (positives, negatives) of the shipped sets."""
    order = np.argsort([r.study_id for r in records], kind="stable")  # folds by id, not order
    studies, records = studies[order], [records[i] for i in order]
    truth = np.array([diagnoses.index(r.primary_diagnosis) for r in records])
    _, similarity = exclusive_probabilities(studies, ensembles["diagnosis"], logit_scale)
    logits = logit_scale * similarity
    evidence = _cross_validated_temperature(logits, truth)
    kept = evidence["ece_with"] < evidence["ece_without"]
    positives, negatives = ensembles["findings"]
    margin = studies @ positives.T - studies @ negatives.T  # (N, C)
    platt = {}
    for i, name in enumerate(findings):
        labels = np.array([r.labels.get(name, 0) for r in records])
        if 0 < labels.sum() < len(labels):
            platt[name] = metrics.fit_platt(margin[:, i], labels)
    return Calibration(
        temperature=metrics.fit_temperature(logits, truth) if kept else 1.0,
        temperature_kept=bool(kept),
        temperature_evidence=evidence,
        platt=platt,
        findings_ensembles=(positives, negatives),
        diagnosis_ensembles=ensembles["diagnosis"],
    )
