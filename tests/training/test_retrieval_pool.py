"""Retrieval figures in the whole pool and in fixed random pools of the target's size."""

from types import SimpleNamespace

import numpy as np

from app.training.evaluate import POOL_DRAWS, TARGET_POOL, retrieval


class _Texts:
    """Stands in for a trained run: impression i embeds to row i of `vectors`."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.vectors[[int(t) for t in texts]]


def _records(n: int) -> list:
    return [SimpleNamespace(impression=str(i)) for i in range(n)]


def test_perfect_embeddings_retrieve_everything_in_every_pool() -> None:
    eye = np.eye(300)
    out = retrieval(_Texts(eye), eye, _records(300))  # type: ignore[arg-type]
    assert out["pool"] == 300 and out["impression_to_study_recall_at_1"] == 1.0
    assert out[f"pool_{TARGET_POOL}"]["draws"] == POOL_DRAWS
    assert out[f"pool_{TARGET_POOL}"]["study_to_impression_recall_at_1"] == 1.0


def test_a_smaller_pool_is_easier_and_small_pools_get_no_subsample() -> None:
    rng = np.random.default_rng(1)
    studies = rng.normal(size=(400, 16))
    texts = studies + rng.normal(scale=2.0, size=studies.shape)  # noisy pairs
    out = retrieval(_Texts(texts), studies, _records(400))  # type: ignore[arg-type]
    small = out[f"pool_{TARGET_POOL}"]
    assert small["impression_to_study_recall_at_10"] > out["impression_to_study_recall_at_10"]
    assert small["impression_to_study_median_rank"] < out["impression_to_study_median_rank"]
    assert f"pool_{TARGET_POOL}" not in retrieval(_Texts(texts), studies[:50], _records(50))  # type: ignore[arg-type]
