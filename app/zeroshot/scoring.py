"""Zero-shot scores from unit embeddings (numpy only: the gateway and the evaluation share it).

Two questions, stated explicitly:
- exclusive: one diagnosis among several -> softmax over the conditions' prompt-ensemble
  embeddings (CLIP), temperature-calibrated;
- findings: several can be present -> per finding, its positive against its negative prompt
  ensemble (CheXzero style), an independent probability each: Platt-scaled margin where the
  model card carries a fit for that finding, else the uncalibrated two-way softmax.
"""

import numpy as np


def normalize(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def ensemble(prompt_embeddings: np.ndarray) -> np.ndarray:
    """Unit prompt embeddings (P, D) of one condition -> its unit ensemble embedding (D,)."""
    return normalize(normalize(prompt_embeddings).mean(axis=0))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def exclusive_probabilities(
    studies: np.ndarray, conditions: np.ndarray, logit_scale: float, temperature: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """studies (N, D), condition ensembles (C, D), unit norm -> (probabilities (N, C),
    cosine similarities (N, C)). Probabilities are softmax(scale * cos / temperature)."""
    similarity = studies @ conditions.T
    return _softmax(logit_scale * similarity / temperature), similarity


def finding_probabilities(
    studies: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    logit_scale: float,
    platt: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """studies (N, D), positive and negative ensembles (C, D) -> (P(finding) (N, C), cosine
    similarity to the positive ensemble (N, C)). Both are functions of the margin
    cos(positive) - cos(negative): uncalibrated, the two-way softmax of scale * cos, which is
    sigmoid(scale * margin); with `platt` = (slopes, intercepts) (C,) each, Platt's sigmoid."""
    positive = studies @ positives.T
    margin = positive - studies @ negatives.T  # (N, C)
    if platt is None:
        return platt_probabilities(margin, np.full(margin.shape[1], logit_scale), 0.0), positive
    return platt_probabilities(margin, *platt), positive


def platt_probabilities(
    margin: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray | float
) -> np.ndarray:
    """sigmoid(slope * margin + intercept) per finding: margin (N, C) = cos(positive) -
    cos(negative), slopes and intercepts (C,) -> probabilities (N, C)."""
    return 1.0 / (1.0 + np.exp(-(margin * slopes + intercepts)))
