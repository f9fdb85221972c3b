"""Few-shot prototypes, numpy only: a site's own labelled studies as a condition.

A prototype is the unit mean of k study embeddings with the label and the unit mean of k'
without it (its negatives). A study's prototype margin is

    margin_proto = cos(study, positive mean) - cos(study, negative mean)

the same shape of question as a findings-mode prompt condition (positive against negative
prompts), so the two blend in findings mode: a condition with prompts and a prototype scores
margin = (1 - PROTOTYPE_WEIGHT) * margin_text + PROTOTYPE_WEIGHT * margin_proto. The
probability is sigmoid(slope * margin + intercept): for a prototype alone, Platt's fit on its
own registered studies when there are at least MIN_PLATT of each kind (leave-one-out margins,
so no study scores against a mean that contains it), else, and for blends, the uncalibrated
sigmoid(logit_scale * margin), as for custom prompts.
"""

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from app.zeroshot.scoring import normalize

PROTOTYPE_WEIGHT = 0.5
MIN_PLATT = 4


class PrototypeFit(BaseModel):
    """P = sigmoid(slope * margin_proto + intercept), fit on the registered studies."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    slope: float
    intercept: float


class Prototype(BaseModel):
    """A registered label: its means and where they came from, for one model version."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())
    name: str
    label: str
    model_version: str
    model_sha256: str
    k_positive: int = Field(ge=1)
    k_negative: int = Field(ge=1)
    positive: list[float] = Field(description="unit mean of the studies with the label")
    negative: list[float] = Field(description="unit mean of the studies without it")
    calibration: PrototypeFit | None = None
    created: str


def unit_mean(embeddings: np.ndarray) -> np.ndarray:
    """Unit embeddings (k, D) -> their unit mean (D,)."""
    return normalize(normalize(embeddings).mean(axis=0))


def prototype_margin(studies: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Unit studies (N, D) -> cos(positive mean) - cos(negative mean) (N,)."""
    return studies @ positive - studies @ negative


def leave_one_out_margins(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """Margins of every registered study against the means of the others: (k + k',), the
    positives first."""
    positive, negative = unit_mean(positives), unit_mean(negatives)
    margins = []
    for i in range(len(positives)):
        rest = unit_mean(np.delete(positives, i, axis=0))
        margins.append(positives[i] @ rest - positives[i] @ negative)
    for i in range(len(negatives)):
        rest = unit_mean(np.delete(negatives, i, axis=0))
        margins.append(negatives[i] @ positive - negatives[i] @ rest)
    return np.array(margins)


def fit_platt(margins: np.ndarray, labels: np.ndarray, steps: int = 500) -> PrototypeFit:
    """Logistic regression of labels (0/1) on one margin, by Newton's method with a small ridge
    (k can be small and the classes separable)."""
    x = np.stack([margins, np.ones_like(margins)], axis=1)
    w = np.zeros(2)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w)))
        gradient = x.T @ (p - labels) + 1e-2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + 1e-2 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return PrototypeFit(slope=float(w[0]), intercept=float(w[1]))


def calibrate_prototype(positives: np.ndarray, negatives: np.ndarray) -> PrototypeFit | None:
    """Platt's fit on leave-one-out margins, or None with fewer than MIN_PLATT of a kind."""
    if min(len(positives), len(negatives)) < MIN_PLATT:
        return None
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    return fit_platt(leave_one_out_margins(positives, negatives), labels)
