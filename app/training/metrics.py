"""Evaluation metrics for the zero-shot model: ranking (AUROC, ROC, Youden), classification
(confusion matrix, balanced accuracy), calibration (ECE, temperature scaling) and retrieval
(recall@k, median rank). numpy and scipy only, so evaluation runs without torch.

Conventions: a binary score predicts positive when `score >= threshold`; labels are 0/1 (or bool)
for binary metrics and class indices 0..n_classes-1 for multiclass ones. Misuse (mismatched
shapes, labels out of range) raises ValueError.
"""

import numpy as np
from scipy import optimize, special, stats

# Search range of fit_temperature, in log T: T in [e^-5, e^5] ~ [0.007, 148].
_LOG_TEMPERATURE_BOUNDS = (-5.0, 5.0)


def _binary_inputs(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scores (N,) as float64 and labels (N,) as bool; raises ValueError on bad shapes/labels."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must both be (N,)")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("binary labels must be 0 or 1")
    return scores, labels.astype(bool)


def _class_indices(values: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    """values (N,) checked to be integers in [0, n_classes) and returned as intp."""
    values = np.asarray(values)
    indices = values.astype(np.intp)
    if values.ndim != 1 or np.any(indices != values):
        raise ValueError(f"{name} must be a 1-D array of class indices")
    if indices.size and (indices.min() < 0 or indices.max() >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes})")
    return indices


# --- ranking of one binary condition ---------------------------------------------------------


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of scores (N,) against labels (N,) in {0, 1}.

    Computed as the Mann-Whitney U statistic: the fraction of (positive, negative) pairs in which
    the positive scores higher, a tie counting 1/2. NaN when only one class is present.
    """
    scores, positive = _binary_inputs(scores, labels)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(scores)  # average ranks: a tie contributes 1/2 to U
    u_statistic = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u_statistic / (n_pos * n_neg))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of scores (N,) against labels (N,) in {0, 1}, for plotting.

    Returns (fpr, tpr, thresholds), each (K + 1,) for K distinct scores. thresholds descend from
    +inf (nothing positive, the point (0, 0)) through every distinct score down to the lowest
    (everything positive, the point (1, 1)); point k predicts positive when score >= thresholds[k].
    The trapezoid area under (fpr, tpr) equals `auroc`. Raises ValueError unless both classes
    are present.
    """
    scores, positive = _binary_inputs(scores, labels)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("the ROC curve needs both positive and negative samples")
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_positive = scores[order], positive[order]
    # Last index of each run of equal scores: tied samples enter the curve together.
    run_ends = np.flatnonzero(np.diff(sorted_scores, append=-np.inf))
    true_positives = np.cumsum(sorted_positive)[run_ends]
    false_positives = run_ends + 1 - true_positives
    fpr = np.concatenate([[0.0], false_positives / n_neg])
    tpr = np.concatenate([[0.0], true_positives / n_pos])
    thresholds = np.concatenate([[np.inf], sorted_scores[run_ends]])
    return fpr, tpr, thresholds


def sensitivity_specificity(
    scores: np.ndarray, labels: np.ndarray, threshold: float
) -> tuple[float, float]:
    """(sensitivity, specificity) of predicting positive when score >= threshold.

    scores (N,), labels (N,) in {0, 1}. Either value is NaN when its class is absent.
    """
    scores, positive = _binary_inputs(scores, labels)
    predicted = scores >= threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = np.float64((predicted & positive).sum()) / positive.sum()
        specificity = np.float64((~predicted & ~positive).sum()) / (~positive).sum()
    return float(sensitivity), float(specificity)


def youden_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1 on scores (N,), labels (N,).

    Meant for calibrating one condition's threshold on a validation split. The returned value
    lies midway between the lowest score the best cut counts positive and the next lower score,
    so it separates the validation samples exactly as the cut does without sitting on one of
    them (when the best cut counts everything positive, it is the lowest score). Among equally
    good cuts the highest (most specific) wins. Raises ValueError unless both classes are present.
    """
    fpr, tpr, thresholds = roc_curve(scores, labels)
    youden = (tpr - fpr)[1:]  # the +inf cut predicts nothing positive; never a useful answer
    cut_scores = thresholds[1:]
    # Tolerance: 2/3 - 0 and 1 - 1/3 are equal cuts but differ in the last bit.
    best = int(np.flatnonzero(youden >= youden.max() - 1e-12)[0])
    if best == cut_scores.size - 1:
        return float(cut_scores[best])
    return float((cut_scores[best] + cut_scores[best + 1]) / 2)


# --- multiclass classification ---------------------------------------------------------------


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes) int64: row = true class, column = predicted class.

    predicted (N,) and truth (N,) are class indices in [0, n_classes).
    """
    predicted = _class_indices(predicted, n_classes, "predicted")
    truth = _class_indices(truth, n_classes, "truth")
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted {predicted.shape} and truth {truth.shape} differ in shape")
    flat = np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def balanced_accuracy(predicted: np.ndarray, truth: np.ndarray, n_classes: int) -> float:
    """Mean per-class recall over the classes present in truth; predicted (N,), truth (N,).

    A class never seen in truth is left out rather than counted as recall 0. NaN for N = 0.
    """
    counts = confusion_matrix(predicted, truth, n_classes)
    per_class_total = counts.sum(axis=1)
    present = per_class_total > 0
    if not present.any():
        return float("nan")
    recalls = np.diag(counts)[present] / per_class_total[present]
    return float(recalls.mean())


# --- calibration -----------------------------------------------------------------------------


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 15
) -> float:
    """Expected calibration error with `bins` equal-width bins ((m-1)/bins, m/bins] of [0, 1].

    Multiclass: probabilities (N, C), labels (N,) class indices -> top-label ECE: confidence is
    the highest probability, outcome whether its class (argmax, first on ties) is the label.
    Binary: probabilities (N,) of the positive class, labels (N,) in {0, 1} -> ECE of the
    positive-class probability: confidence is that probability, outcome the label.
    ECE = sum over bins of (n_bin / N) * |mean outcome - mean confidence|.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim == 2:
        true_class = _class_indices(labels, probabilities.shape[1], "labels")
        confidence = probabilities.max(axis=1)
        outcome = (probabilities.argmax(axis=1) == true_class).astype(np.float64)
    elif probabilities.ndim == 1:
        confidence, positive = _binary_inputs(probabilities, labels)
        outcome = positive.astype(np.float64)
    else:
        raise ValueError(f"probabilities must be (N,) or (N, C), got {probabilities.shape}")
    if confidence.shape != outcome.shape:
        raise ValueError(f"probabilities {probabilities.shape} and labels differ in length")
    edges = np.linspace(0.0, 1.0, bins + 1)
    bin_index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    # n_b/N * |acc_b - conf_b| = |sum of outcomes_b - sum of confidences_b| / N: no empty bins.
    outcome_sums = np.bincount(bin_index, weights=outcome, minlength=bins)
    confidence_sums = np.bincount(bin_index, weights=confidence, minlength=bins)
    return float(np.abs(outcome_sums - confidence_sums).sum() / confidence.size)


def _drawn_outcomes(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Labels drawn from the probabilities themselves: (N,) binary or (N, C) classes."""
    if probabilities.ndim == 1:
        return (rng.random(probabilities.shape) < probabilities).astype(int)
    cumulative = probabilities.cumsum(axis=1) / probabilities.sum(axis=1, keepdims=True)
    drawn = (rng.random((probabilities.shape[0], 1)) > cumulative).sum(axis=1)
    return np.minimum(drawn, probabilities.shape[1] - 1)


def ece_floor(
    groups: list[np.ndarray],
    bins: int = 15,
    draws: int = 1000,
    quantile: float = 0.95,
    seed: int = 0,
) -> float:
    """The `quantile` of the ECE, averaged over `groups`, that perfectly calibrated
    probabilities would show on this many studies: outcomes drawn from the probabilities
    themselves (consistency resampling, Bröcker and Smith 2007). A measured ECE below it is
    within sampling noise of calibrated (on 20 studies that noise alone is about 0.1). Each
    group is what `expected_calibration_error` takes: (N,) binary or (N, C) top-label."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(g, dtype=np.float64) for g in groups]
    values = [
        np.mean([expected_calibration_error(p, _drawn_outcomes(p, rng), bins) for p in arrays])
        for _ in range(draws)
    ]
    return float(np.quantile(values, quantile))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature) over the last axis; logits (..., C) -> same shape, float64.

    Stable for large logits (the row maximum is subtracted first). Raises ValueError unless
    temperature > 0.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    shifted = scaled - scaled.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def negative_log_likelihood(
    logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0
) -> float:
    """Mean -log softmax(logits / temperature)[label]; logits (N, C), labels (N,) class indices."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, C), got {logits.shape}")
    true_class = _class_indices(labels, logits.shape[1], "labels")
    if true_class.shape[0] != logits.shape[0]:
        raise ValueError(f"logits {logits.shape} and labels {true_class.shape} differ in length")
    log_probabilities = special.log_softmax(logits / temperature, axis=1)
    return float(-log_probabilities[np.arange(true_class.size), true_class].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T > 0 minimising the NLL of softmax(logits / T); logits (N, C), labels (N,).

    A bounded 1-D search over log T (T in about [0.007, 148]); fit it on a validation split and
    divide test logits by it. T > 1 softens an over-confident model, T < 1 sharpens.
    """

    def nll_at_log_temperature(log_temperature: float) -> float:
        return negative_log_likelihood(logits, labels, float(np.exp(log_temperature)))

    result = optimize.minimize_scalar(
        nll_at_log_temperature, bounds=_LOG_TEMPERATURE_BOUNDS, method="bounded"
    )
    return float(np.exp(result.x))


def fit_platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of P(positive) = sigmoid(slope * score + intercept), by maximum
    likelihood against Platt's smoothed targets ((N+ + 1) / (N+ + 2) for positives,
    1 / (N- + 2) for negatives), which keep the slope finite when the scores separate the
    labels perfectly. scores (N,), labels (N,) in {0, 1} with both classes present."""
    scores, positive = _binary_inputs(scores, labels)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("Platt scaling needs positive and negative examples")
    target = np.where(positive, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    centre, spread = float(scores.mean()), float(scores.std()) or 1.0
    z = (scores - centre) / spread  # standardised, so the optimiser sees unit-scale inputs

    def loss(params: np.ndarray) -> float:
        logit = params[0] * z + params[1]
        return float(np.mean(np.logaddexp(0, logit) - target * logit))

    slope, intercept = optimize.minimize(loss, np.zeros(2), method="BFGS").x
    return float(slope / spread), float(intercept - slope * centre / spread)


# --- retrieval -------------------------------------------------------------------------------


def _correct_item_ranks(similarity: np.ndarray) -> np.ndarray:
    """1-based rank (Q,) of item i among the items of query i; similarity (Q, I), Q <= I.

    Ties count against the model: the rank is the number of items scoring >= the correct one,
    so a model that scores everything equally ranks every correct item last.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2 or similarity.shape[0] > similarity.shape[1]:
        raise ValueError(
            f"similarity must be (N_queries, N_items >= N_queries), got {similarity.shape}"
        )
    n_queries = similarity.shape[0]
    correct = similarity[np.arange(n_queries), np.arange(n_queries)]  # (Q,)
    return (similarity >= correct[:, None]).sum(axis=1)


def recall_at_k(similarity: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[int, float]:
    """Fraction of queries whose correct item ranks within the top k, for each k in ks.

    similarity (N_queries, N_items): the correct item of query i is item i. Ties count against
    the model (see `median_rank`).
    """
    ranks = _correct_item_ranks(similarity)
    return {k: float((ranks <= k).mean()) for k in ks}


def median_rank(similarity: np.ndarray) -> float:
    """Median 1-based rank of the correct item; similarity (N_queries, N_items), item i for
    query i. Ties count against the model: rank = number of items scoring >= the correct one."""
    return float(np.median(_correct_item_ranks(similarity)))
