"""Retrieval figures: impression -> study and study -> impression, Recall@k and median rank."""

from typing import Any

import numpy as np

from app.training import metrics

TARGET_POOL = 200  # the retrieval target is set in a pool of this many studies
POOL_DRAWS = 50


def _retrieval_figures(study_to_text: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, similarity in (
        ("study_to_impression", study_to_text),
        ("impression_to_study", study_to_text.T),
    ):
        for k, value in metrics.recall_at_k(similarity).items():
            out[f"{name}_recall_at_{k}"] = value
        out[f"{name}_median_rank"] = metrics.median_rank(similarity)
    return out


def retrieval(studies: np.ndarray, texts: np.ndarray) -> dict[str, Any]:
    """Recall@k and median rank in the whole pool, and the mean over POOL_DRAWS fixed random
    pools of TARGET_POOL studies drawn from it (the size the target is set for: recall falls
    as the pool grows)."""
    study_to_text = studies @ texts.T
    out: dict[str, Any] = {"pool": len(studies), **_retrieval_figures(study_to_text)}
    if len(studies) > TARGET_POOL:
        rng = np.random.default_rng(0)
        draws = [rng.choice(len(studies), TARGET_POOL, replace=False) for _ in range(POOL_DRAWS)]
        figures = [_retrieval_figures(study_to_text[np.ix_(d, d)]) for d in draws]
        out[f"pool_{TARGET_POOL}"] = {
            "pool": TARGET_POOL,
            "draws": POOL_DRAWS,
            **{key: float(np.mean([f[key] for f in figures])) for key in figures[0]},
        }
    return out
