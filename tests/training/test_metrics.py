"""Evaluation metrics on toy cases whose answers are worked out by hand."""

import math

import numpy as np
import pytest

from app.training import metrics
from app.training.metrics import (
    auroc,
    balanced_accuracy,
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    median_rank,
    negative_log_likelihood,
    recall_at_k,
    roc_curve,
    sensitivity_specificity,
    softmax,
    youden_threshold,
)

# 3 positives, 3 negatives, one (positive, negative) pair swapped: the positive at 3 sits below
# the negative at 4. Positive-above-negative pairs: 3 beats {1, 2} = 2, 5 and 6 beat all 3
# negatives = 3 + 3, so 8 of 9 pairs.
SWAP_SCORES = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
SWAP_LABELS = np.array([0, 0, 1, 0, 1, 1])


def _pairwise_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The definition, pair by pair: P(positive > negative) + 1/2 P(tie)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (pos.size * neg.size)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], 1.0),  # perfect ranker
        ([0.9, 0.8, 0.2, 0.1], 0.0),  # inverted ranker
        ([0.5, 0.5, 0.5, 0.5], 0.5),  # every pair tied: 4 pairs x 1/2
    ],
)
def test_auroc_of_perfect_inverted_and_tied_rankers(scores, expected):
    assert auroc(np.array(scores), np.array([0, 0, 1, 1])) == pytest.approx(expected)


def test_auroc_counts_one_swapped_pair():
    assert auroc(SWAP_SCORES, SWAP_LABELS) == pytest.approx(8 / 9)


def test_auroc_counts_ties_as_half():
    # positives {0.5, 0.8}, negatives {0.5, 0.2}: 0.5~0.5 tie = 1/2, the other 3 pairs win
    # -> 3.5 / 4
    scores = np.array([0.5, 0.5, 0.2, 0.8])
    labels = np.array([1, 0, 0, 1])
    assert auroc(scores, labels) == pytest.approx(0.875)


def test_auroc_matches_the_pairwise_definition_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=60).astype(float)
    labels = rng.integers(0, 2, size=60)
    assert auroc(scores, labels) == pytest.approx(_pairwise_auroc(scores, labels))


@pytest.mark.parametrize("label", [0, 1])
def test_auroc_is_nan_with_one_class(label):
    assert math.isnan(auroc(np.array([0.1, 0.5, 0.9]), np.full(3, label)))


def test_auroc_rejects_non_binary_labels():
    with pytest.raises(ValueError):
        auroc(np.array([0.1, 0.2]), np.array([0, 2]))


def test_roc_curve_of_the_swap_case():
    fpr, tpr, thresholds = roc_curve(SWAP_SCORES, SWAP_LABELS)
    # descending: 6+ 5+ 4- 3+ 2- 1-; each step admits one sample
    np.testing.assert_array_equal(thresholds, [np.inf, 6, 5, 4, 3, 2, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])


def test_roc_curve_area_equals_auroc_with_ties():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 6, size=80).astype(float)
    labels = rng.integers(0, 2, size=80)
    fpr, tpr, thresholds = roc_curve(scores, labels)
    assert thresholds.size == np.unique(scores).size + 1  # tied samples form one point
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(scores, labels))


def test_roc_curve_needs_both_classes():
    with pytest.raises(ValueError):
        roc_curve(np.array([0.1, 0.2]), np.array([1, 1]))


def test_sensitivity_specificity_at_thresholds():
    # >= 3.5 -> positive {4, 5, 6}: positives caught 5, 6 of {3, 5, 6}; negatives kept 1, 2 of
    # {1, 2, 4}
    assert sensitivity_specificity(SWAP_SCORES, SWAP_LABELS, 3.5) == pytest.approx((2 / 3, 2 / 3))
    # >= 3 counts the score 3 itself as positive
    assert sensitivity_specificity(SWAP_SCORES, SWAP_LABELS, 3.0) == pytest.approx((1.0, 2 / 3))


def test_youden_threshold_separates_a_separable_toy():
    scores = np.array([0.1, 0.3, 0.2, 0.9, 0.6, 0.7])
    labels = np.array([0, 0, 0, 1, 1, 1])
    threshold = youden_threshold(scores, labels)
    assert 0.3 < threshold < 0.6
    assert threshold == pytest.approx(0.45)  # midway between the classes
    assert sensitivity_specificity(scores, labels, threshold) == (1.0, 1.0)


def test_youden_threshold_prefers_the_more_specific_of_equal_cuts():
    # J at cuts 6, 5, 4, 3, 2, 1 = 1/3, 2/3, 1/3, 2/3, 1/3, 0: the cut at 5 and the cut at 3
    # tie; the higher one wins, placed between 5 and the next score 4.
    assert youden_threshold(SWAP_SCORES, SWAP_LABELS) == pytest.approx(4.5)


# truth rows / predicted columns, worked out by hand:
#   class 0: predicted 0, 0, 0, 1 -> [3, 1, 0]
#   class 1: predicted 1, 2       -> [0, 1, 1]
#   class 2: predicted 2          -> [0, 0, 1]
TRUTH = np.array([0, 0, 0, 0, 1, 1, 2])
PREDICTED = np.array([0, 0, 0, 1, 1, 2, 2])


def test_confusion_matrix_rows_are_truth():
    expected = np.array([[3, 1, 0], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(confusion_matrix(PREDICTED, TRUTH, 3), expected)


def test_confusion_matrix_rejects_out_of_range_classes():
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)


def test_balanced_accuracy_is_the_mean_recall():
    # recalls 3/4, 1/2, 1/1 -> 0.75 (plain accuracy is 5/7)
    assert balanced_accuracy(PREDICTED, TRUTH, 3) == pytest.approx(0.75)


def test_balanced_accuracy_sees_through_class_imbalance():
    # 8 of class 0, 2 of class 1, always predicting 0: accuracy 0.8, recalls 1 and 0 -> 0.5.
    # Class 2 never occurs in truth and is left out of the mean.
    truth = np.array([0] * 8 + [1] * 2)
    predicted = np.zeros(10, dtype=int)
    assert balanced_accuracy(predicted, truth, 3) == pytest.approx(0.5)


def test_ece_of_calibrated_binary_probabilities_is_zero():
    # p = 0.25 for four samples, one positive; p = 0.75 for four samples, three positive
    probabilities = np.array([0.25] * 4 + [0.75] * 4)
    labels = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)


def test_ece_of_calibrated_multiclass_probabilities_is_zero():
    # top-label confidence 0.5 twice with one hit, 0.8 five times with four hits
    probabilities = np.array([[0.5, 0.3, 0.2]] * 2 + [[0.1, 0.8, 0.1]] * 5)
    labels = np.array([0, 1, 1, 1, 1, 1, 2])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)


def test_ece_of_an_over_confident_model():
    # 15 bins of width 1/15. Four samples at confidence 0.9 (bin (0.867, 0.933]) with 2 hits:
    # |0.5 - 0.9| = 0.4. Four at 0.65 (bin (0.6, 0.667]) with 2 hits: |0.5 - 0.65| = 0.15.
    # ECE = 4/8 * 0.4 + 4/8 * 0.15 = 0.275
    probabilities = np.array([[0.9, 0.05, 0.05]] * 4 + [[0.65, 0.25, 0.10]] * 4)
    labels = np.array([0, 0, 1, 2, 0, 0, 1, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.275)


def test_ece_binary_uses_the_positive_class_probability():
    # p = 0.2 and p = 0.8, both samples positive. Positive-class bins: |1 - 0.2| and |1 - 0.8|,
    # each on half the data -> (0.8 + 0.2) / 2 = 0.5. A top-label reading would instead put both
    # at confidence 0.8 with one hit in two: |0.5 - 0.8| = 0.3.
    probabilities = np.array([0.2, 0.8])
    labels = np.array([1, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.5)


def test_softmax_is_stable_and_sums_to_one():
    logits = np.array([[1000.0, 1000.0, 0.0], [0.0, np.log(3.0), -np.inf]])
    probabilities = softmax(logits)
    np.testing.assert_allclose(probabilities, [[0.5, 0.5, 0.0], [0.25, 0.75, 0.0]], atol=1e-12)
    # temperature 2 halves the logits: [0, ln 3 / 2] -> 1 : sqrt(3)
    np.testing.assert_allclose(
        softmax(np.array([0.0, np.log(3.0)]), temperature=2.0),
        [1 / (1 + np.sqrt(3)), np.sqrt(3) / (1 + np.sqrt(3))],
    )


def _logits_with_known_temperature(
    true_temperature: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(base); observed logits = true_temperature * base, so dividing
    by true_temperature restores the distribution the labels came from."""
    rng = np.random.default_rng(seed)
    base_logits = rng.normal(scale=1.5, size=(5000, 5))
    cumulative = softmax(base_logits).cumsum(axis=1)
    labels = (cumulative > rng.random(5000)[:, None]).argmax(axis=1)
    return true_temperature * base_logits, labels


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_temperature):
    logits, labels = _logits_with_known_temperature(true_temperature, seed=7)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.10)
    assert negative_log_likelihood(logits, labels, fitted) < negative_log_likelihood(logits, labels)


def test_negative_log_likelihood_by_hand():
    # softmax([0, ln 3]) = [1/4, 3/4]; labels 1 and 0 -> mean(-ln 3/4, -ln 1/4)
    logits = np.array([[0.0, np.log(3.0)]] * 2)
    expected = -(np.log(0.75) + np.log(0.25)) / 2
    assert negative_log_likelihood(logits, np.array([1, 0])) == pytest.approx(expected)


# Correct item on the diagonal. Items scoring strictly above it, per row:
#   row 0: none              -> rank 1
#   row 1: 0.8               -> rank 2
#   row 2: 0.7, 0.6, 0.9     -> rank 4
#   row 3: 0.4               -> rank 2
SIMILARITY = np.array(
    [
        [0.9, 0.1, 0.2, 0.3],
        [0.8, 0.5, 0.1, 0.0],
        [0.7, 0.6, 0.1, 0.9],
        [0.2, 0.1, 0.4, 0.3],
    ]
)


def test_recall_at_k_on_a_hand_made_matrix():
    # ranks [1, 2, 4, 2]
    assert recall_at_k(SIMILARITY, ks=(1, 2, 3, 4, 10)) == pytest.approx(
        {1: 0.25, 2: 0.75, 3: 0.75, 4: 1.0, 10: 1.0}
    )


def test_median_rank_on_a_hand_made_matrix():
    assert median_rank(SIMILARITY) == 2.0  # median of [1, 2, 2, 4]


def test_retrieval_ties_count_against_the_model():
    # every item scores the same: each correct item ranks last (4 of 4)
    constant = np.ones((4, 4))
    assert recall_at_k(constant, ks=(1, 3)) == {1: 0.0, 3: 0.0}
    assert median_rank(constant) == 4.0


def test_platt_fit_recovers_a_logistic_relation_and_stays_finite_when_separable() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=4000)
    labels = (rng.random(4000) < 1 / (1 + np.exp(-(3.0 * scores - 0.5)))).astype(int)
    slope, intercept = metrics.fit_platt(scores, labels)
    assert slope == pytest.approx(3.0, rel=0.15) and intercept == pytest.approx(-0.5, abs=0.2)
    shifted = metrics.fit_platt(0.01 * scores + 3.0, labels)  # invariant to the score's units
    assert shifted[0] * 0.01 == pytest.approx(slope, rel=1e-3)
    separable = metrics.fit_platt(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    assert np.isfinite(separable).all() and separable[0] > 0
    with pytest.raises(ValueError):
        metrics.fit_platt(np.array([0.1, 0.2]), np.array([1, 1]))


def test_ece_floor_is_the_noise_of_calibrated_probabilities_and_shrinks_with_more_studies():
    from app.training.metrics import ece_floor

    rng = np.random.default_rng(0)
    few, many = rng.uniform(0.05, 0.95, 20), rng.uniform(0.05, 0.95, 2000)
    assert 0.1 < ece_floor([few], draws=300) < 0.4
    assert ece_floor([many], draws=300) < 0.05
    assert ece_floor([np.zeros(20)], draws=50) == 0.0  # certain and right: no noise
    three_class = rng.dirichlet(np.ones(3), 20)
    assert 0.05 < ece_floor([three_class], draws=300) < 0.5
    # averaged over groups, the noise of the mean falls below that of one group
    assert ece_floor([few, few], draws=300) < ece_floor([few], draws=300)
