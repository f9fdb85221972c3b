"""Retrieval figures in the whole pool and in fixed random pools of the target's size."""

import numpy as np

from app.training.retrieval import POOL_DRAWS, TARGET_POOL, retrieval


def test_perfect_embeddings_retrieve_everything_in_every_pool() -> None:
    eye = np.eye(300)
    out = retrieval(eye, eye)
    assert out["pool"] == 300 and out["impression_to_study_recall_at_1"] == 1.0
    assert out[f"pool_{TARGET_POOL}"]["draws"] == POOL_DRAWS
    assert out[f"pool_{TARGET_POOL}"]["study_to_impression_recall_at_1"] == 1.0


def test_a_smaller_pool_is_easier_and_small_pools_get_no_subsample() -> None:
    rng = np.random.default_rng(1)
    studies = rng.normal(size=(400, 16))
    texts = studies + rng.normal(scale=2.0, size=studies.shape)  # noisy pairs
    out = retrieval(studies, texts)
    small = out[f"pool_{TARGET_POOL}"]
    assert small["impression_to_study_recall_at_10"] > out["impression_to_study_recall_at_10"]
    assert small["impression_to_study_median_rank"] < out["impression_to_study_median_rank"]
    assert f"pool_{TARGET_POOL}" not in retrieval(studies[:50], texts[:50])
