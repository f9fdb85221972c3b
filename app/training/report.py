"""The evaluation report: Markdown with ROC curves, the confusion matrix and reliability
diagrams (PNG) next to summary.json."""

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from app.training import metrics


def strip_arrays(tree: Any) -> Any:
    """The summary without the per-study arrays kept for plotting."""
    if isinstance(tree, dict):
        return {k: strip_arrays(v) for k, v in tree.items() if k != "_arrays"}
    return tree


def _roc_png(arrays: dict[str, Any], title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for i, name in enumerate(arrays["finding_names"]):
        labels = arrays["finding_labels"][:, i]
        if 0 < labels.sum() < len(labels):
            fpr, tpr, _ = metrics.roc_curve(arrays["finding_probabilities"][:, i], labels)
            auc = metrics.auroc(arrays["finding_probabilities"][:, i], labels)
            ax.plot(fpr, tpr, label=f"{name} ({auc:.2f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _confusion_png(arrays: dict[str, Any], path: Path) -> None:
    names = arrays["diagnosis_names"]
    matrix = metrics.confusion_matrix(
        arrays["diagnosis_raw"].argmax(1), arrays["diagnosis_truth"], len(names)
    )
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(matrix, cmap="Blues")
    short = [n.replace("_", " ")[:14] for n in names]
    ax.set_xticks(range(len(names)), short, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), short, fontsize=7)
    for (r, c), value in np.ndenumerate(matrix):
        ax.text(c, r, str(value), ha="center", va="center", fontsize=8)
    ax.set(xlabel="predicted (zero-shot)", ylabel="truth", title="exclusive diagnosis")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _reliability_png(arrays: dict[str, Any], path: Path, bins: int = 10) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    truth = arrays["diagnosis_truth"]
    for key, label in (("diagnosis_raw", "before"), ("diagnosis_calibrated", "after temperature")):
        probabilities = arrays[key]
        confidence = probabilities.max(1)
        correct = probabilities.argmax(1) == truth
        edges = np.linspace(0, 1, bins + 1)
        centres, accuracy = [], []
        for low, high in pairwise(edges):
            inside = (confidence > low) & (confidence <= high)
            if inside.any():
                centres.append(confidence[inside].mean())
                accuracy.append(correct[inside].mean())
        ax.plot(centres, accuracy, "o-", label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="confidence", ylabel="accuracy", title="reliability (exclusive diagnosis)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(summary: dict[str, Any], out: Path) -> None:
    """report.md and PNGs into `out`."""
    arrays = summary["in_distribution"]["_arrays"]
    _roc_png(arrays, "ROC, held-out studies of the training sites", out / "roc_in_distribution.png")
    _confusion_png(arrays, out / "confusion_in_distribution.png")
    _reliability_png(arrays, out / "calibration_in_distribution.png")
    for site, result in summary["external"].items():
        _roc_png(result["_arrays"], f"ROC, external {site}", out / f"roc_{site}.png")
    clean = strip_arrays(summary)
    lines = [
        f"# Evaluation of {clean['model_version']}",
        "",
        "Zero-shot, from prompts only (condition sets in app/zeroshot/condition_sets). "
        "Temperature and thresholds were fit on the validation split only.",
        "",
        "| group | studies | macro AUROC | balanced accuracy | ECE before | ECE after |",
        "|---|---|---|---|---|---|",
    ]
    groups = {
        "in-distribution test": clean["in_distribution"],
        **{f"external {k}": v for k, v in clean["external"].items()},
    }
    for name, g in groups.items():
        lines.append(
            f"| {name} | {g['n']} | {g['macro_auroc']:.3f} | {g['balanced_accuracy']:.3f} | "
            f"{g['ece_before']:.3f} | {g['ece_after']:.3f} |"
        )
    lines += [
        "",
        "## Per condition (findings mode, in-distribution)",
        "",
        "| condition | AUROC | sensitivity | specificity |",
        "|---|---|---|---|",
    ]
    d = clean["in_distribution"]
    for name, auc in d["per_condition_auroc"].items():
        sensitivity = d["sensitivity"].get(name, float("nan"))
        specificity = d["specificity"].get(name, float("nan"))
        lines.append(f"| {name} | {auc:.3f} | {sensitivity:.2f} | {specificity:.2f} |")
    lines += [
        "",
        "## Retrieval, ablation, paraphrases",
        "",
        "```json",
        json.dumps(
            {k: clean[k] for k in ("retrieval", "ablation") if k in clean}, indent=1, default=float
        ),
        "```",
        "",
        "Paraphrased prompts (never in training impressions): macro AUROC "
        f"{clean['paraphrase']['macro_auroc']:.3f}.",
        "",
    ]
    if "sunnybrook" in clean:
        lines += [
            "## Sim-to-real: the real Sunnybrook study",
            "",
            "Heart failure with infarction, LVEF about 26 %.",
            "",
            "One case: a signal, not a metric.",
            "",
        ]
        lines += [f"- {label}: {p:.3f}" for label, p in clean["sunnybrook"]["diagnosis_ranking"]]
        lines += [""]
    lines += [
        "![ROC](roc_in_distribution.png) ![confusion](confusion_in_distribution.png) "
        "![calibration](calibration_in_distribution.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
