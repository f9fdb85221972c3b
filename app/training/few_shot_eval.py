"""Few-shot prototypes (app/zeroshot/prototypes.py) against zero-shot prompts, k = 1, 4, 16.

Per label, k studies with it and k without it form the prototype (the support); AUROC is
measured on the other studies (the queries), for the prototype alone, for the prompts alone
(the shipped findings set, uncalibrated margin: AUROC does not see calibration) and for the
documented blend. Supports are drawn `draws` times at random (seeded) and the AUROCs
averaged. Groups: the synthetic external sites pooled (support and query from the same
sites, as a site would register its own studies), and ACDC with supports from folds 1-4 and
queries from fold 5, the fold held out of training. A label no prompt of the shipped sets
describes (infarction in the LAD territory, against every other study) is scored by its
prototype alone.
"""

from collections.abc import Callable
from typing import Any

import numpy as np

from app.training import metrics
from app.zeroshot.prototypes import PROTOTYPE_WEIGHT, prototype_margin, unit_mean

SHOTS = (1, 4, 16)


def _auroc_at(
    studies: np.ndarray,
    labels: np.ndarray,
    text_margin: np.ndarray | None,
    support: np.ndarray,
    query: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> dict[str, float] | None:
    """One draw: AUROCs on `query` of prototype, prompts and blend; None if k is too many."""
    positive = support[labels[support] == 1]
    negative = support[labels[support] == 0]
    truth = labels[query]
    if len(positive) < k or len(negative) < k or not 0 < truth.sum() < len(truth):
        return None
    pos = rng.choice(positive, k, replace=False)
    neg = rng.choice(negative, k, replace=False)
    margin = prototype_margin(studies[query], unit_mean(studies[pos]), unit_mean(studies[neg]))
    out = {"prototype": metrics.auroc(margin, truth)}
    if text_margin is not None:
        blend = (1 - PROTOTYPE_WEIGHT) * text_margin[query] + PROTOTYPE_WEIGHT * margin
        out["prompts"] = metrics.auroc(text_margin[query], truth)
        out["blend"] = metrics.auroc(blend, truth)
    return out


def label_curve(
    studies: np.ndarray,
    labels: np.ndarray,
    text_margin: np.ndarray | None,
    split: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
    draws: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """k -> mean AUROC per scorer over the draws (k missing where supports are too small)."""
    curve = {}
    for k in SHOTS:
        rng = np.random.default_rng(seed + k)
        results = [
            _auroc_at(studies, labels, text_margin, *split(rng), k, rng) for _ in range(draws)
        ]
        kept = [r for r in results if r is not None]
        if kept:
            curve[str(k)] = {name: float(np.mean([r[name] for r in kept])) for name in kept[0]}
    return curve


def few_shot_group(
    studies: np.ndarray,
    label_matrix: np.ndarray,
    names: list[str],
    text_margins: np.ndarray | None,
    split: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
    draws: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Per label and macro (labels with a figure at every k) AUROC vs k; `text_margins`
    (N, labels) None for labels no prompt describes (prototype alone)."""
    per_label = {
        name: label_curve(
            studies,
            label_matrix[:, i],
            None if text_margins is None else text_margins[:, i],
            split,
            draws,
            seed,
        )
        for i, name in enumerate(names)
    }
    per_label = {n: c for n, c in per_label.items() if c}
    macro = {}
    for k in SHOTS:
        rows = [c[str(k)] for c in per_label.values() if str(k) in c]
        if rows and len(rows) == len(per_label):
            macro[str(k)] = {name: float(np.mean([r[name] for r in rows])) for name in rows[0]}
    return {"draws": draws, "per_label": per_label, "macro": macro}


def random_split(n: int, support_share: float) -> Callable:
    """Support and query drawn from the same studies, anew for every draw."""

    def split(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        order = rng.permutation(n)
        cut = round(n * support_share)
        return order[:cut], order[cut:]

    return split


def fixed_split(support: np.ndarray, query: np.ndarray) -> Callable:
    return lambda rng: (support, query)
