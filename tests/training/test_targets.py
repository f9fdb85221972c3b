"""Soft contrastive targets: label-free impression similarity and the soft InfoNCE."""

import numpy as np
import torch

from app.model.clip import clip_loss
from app.training.targets import asserted_terms, impression_similarity, soft_targets


def test_negated_clauses_assert_nothing() -> None:
    terms = asserted_terms("No pericardial effusion. The left ventricle is dilated; no thrombus.")
    assert "dilated" in terms and "left ventricle" in terms
    assert "effusion" not in terms and "thrombus" not in terms


def test_same_findings_in_other_words_are_more_similar_than_a_denial() -> None:
    impressions = [
        "Large pericardial effusion. Normal biventricular function.",
        "Normal biventricular function with a large pericardial effusion.",
        "Normal biventricular function. No pericardial effusion.",
    ]
    similarity = impression_similarity(impressions)
    assert np.allclose(np.diag(similarity), 1, atol=1e-5)
    assert np.allclose(similarity, similarity.T)
    assert similarity[0, 1] > similarity[0, 2]


def test_soft_targets_keep_most_mass_on_the_own_impression() -> None:
    similarity = np.array([[1, 0.5, 0.0], [0.5, 1, 0.1], [0.0, 0.1, 1]], dtype=np.float32)
    targets = soft_targets(similarity, weight=0.4, temperature=0.05)
    assert np.allclose(targets.sum(axis=1), 1)
    assert np.allclose(np.diag(targets), 0.6)
    assert targets[0, 1] > targets[0, 2]


def test_soft_loss_with_identity_targets_is_the_hard_loss() -> None:
    generator = torch.Generator().manual_seed(0)
    video = torch.nn.functional.normalize(torch.randn(5, 8, generator=generator), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(5, 8, generator=generator), dim=-1)
    scale = torch.tensor(10.0)
    hard = clip_loss(video, text, scale)
    assert torch.isclose(clip_loss(video, text, scale, torch.eye(5)), hard)
    soft = torch.from_numpy(soft_targets(np.eye(5, dtype=np.float32), 0.3, 0.05))
    assert clip_loss(video, text, scale, soft) > 0
