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


def _reliability_curve(
    confidence: np.ndarray, outcome: np.ndarray, bins: int
) -> tuple[list[float], list[float]]:
    centres, observed = [], []
    for low, high in pairwise(np.linspace(0, 1, bins + 1)):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            centres.append(float(confidence[inside].mean()))
            observed.append(float(outcome[inside].mean()))
    return centres, observed


def _reliability_png(arrays: dict[str, Any], path: Path, bins: int = 10) -> None:
    """Reliability diagrams of both modes, before and after calibration: exclusive (top-label
    confidence against accuracy) and findings (every finding's probability against its label)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 5))
    truth = arrays["diagnosis_truth"]
    for key, label in (("diagnosis_raw", "before"), ("diagnosis_calibrated", "after")):
        probabilities = arrays[key]
        correct = probabilities.argmax(1) == truth
        left.plot(*_reliability_curve(probabilities.max(1), correct, bins), "o-", label=label)
    labels = arrays["finding_labels"].ravel()
    for key, label in (("finding_raw", "before"), ("finding_probabilities", "after Platt")):
        right.plot(*_reliability_curve(arrays[key].ravel(), labels, bins), "o-", label=label)
    for ax, title in ((left, "exclusive diagnosis"), (right, "findings")):
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(xlabel="predicted probability", ylabel="observed frequency", title=title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _bland_altman_png(groups: dict[str, dict[str, Any]], measurement: str, path: Path) -> None:
    """Estimate minus truth against their mean, one panel per group, bias and 95 % limits."""
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4.2), squeeze=False)
    for ax, (title, group) in zip(axes[0], groups.items(), strict=True):
        pairs = group["_arrays"][measurement]
        mean = (pairs["estimate"] + pairs["truth"]) / 2
        ax.scatter(mean, pairs["estimate"] - pairs["truth"], s=10, alpha=0.6)
        figures = group[measurement]
        ax.axhline(figures["bias"], color="k", lw=1)
        for limit in figures["limits_of_agreement"]:
            ax.axhline(limit, color="k", ls=":", lw=1)
        ax.set(
            xlabel="mean of estimate and truth (%)",
            ylabel="estimate - truth (EF points)",
            title=f"{title} (n {figures['n']}, MAE {figures['mae']:.1f})",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _beyond_label_lines(clean: dict[str, Any]) -> list[str]:
    m = clean["measurements"]
    lines = [
        "## LVEF, LVEDVi and RVEF by prompt ranking",
        "",
        f"{m['method']}. Truth: {m['truth']}.",
        "",
        "| group | measure | n | MAE | bias | 95 % limits | 90 % interval coverage | r |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for group, figures in m.items():
        if not isinstance(figures, dict):
            continue
        for name, f in figures.items():
            if isinstance(f, dict) and "mae" in f:
                low, high = f["limits_of_agreement"]
                lines.append(
                    f"| {group} | {name} | {f['n']} | {f['mae']:.1f} | {f['bias']:+.1f} | "
                    f"{low:.1f} to {high:.1f} | {f['interval_coverage']:.2f} | "
                    f"{f['pearson_r']:.2f} |"
                )
    lines += ["", "![Bland-Altman LVEF](bland_altman_lvef.png)", ""]
    e = clean["explanation"]
    lines += [
        "## Which slices: occlusion against the generator's affected slices",
        "",
        f"{e['method']}.",
        "",
        "| condition | n | top-2 both in affected slices | chance | top-2 any | chance | "
        "mean phase-window weights |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, f in e.items():
        if isinstance(f, dict) and "n" in f:
            windows = ", ".join(f"{k} {v:+.2f}" for k, v in f["mean_window_weight"].items())
            lines.append(
                f"| {name} | {f['n']} | {f['top2_both_in_territory']:.2f} | "
                f"{f['chance_both']:.2f} | {f['top2_any_in_territory']:.2f} | "
                f"{f['chance_any']:.2f} | {windows} |"
            )
    lines += ["", "## Few-shot prototypes: macro AUROC against k", ""]
    lines += ["| group | k | prototype | prompts (zero-shot) | blend |", "|---|---|---|---|---|"]
    for group, block in clean["few_shot"].items():
        if isinstance(block, dict) and "macro" in block:
            for k, f in block["macro"].items():
                prompts, blend = (f"{f[x]:.3f}" if x in f else "n/a" for x in ("prompts", "blend"))
                lines.append(f"| {group} | {k} | {f['prototype']:.3f} | {prompts} | {blend} |")
    return [*lines, ""]


def write_report(summary: dict[str, Any], out: Path) -> None:
    """report.md and PNGs into `out`."""
    arrays = summary["in_distribution"]["_arrays"]
    _roc_png(arrays, "ROC, held-out studies of the training sites", out / "roc_in_distribution.png")
    _confusion_png(arrays, out / "confusion_in_distribution.png")
    _reliability_png(arrays, out / "calibration_in_distribution.png")
    for site, result in summary["external"].items():
        _roc_png(result["_arrays"], f"ROC, external {site}", out / f"roc_{site}.png")
    if "measurements" in summary:
        m = summary["measurements"]
        panels = {"external sites": m["external_pooled"], "ACDC, all 100": m["acdc_all"]}
        _bland_altman_png(
            {k: v for k, v in panels.items() if "lvef_pct" in v},
            "lvef_pct",
            out / "bland_altman_lvef.png",
        )
    clean = strip_arrays(summary)
    lines = [
        f"# Evaluation of {clean['model_version']}",
        "",
        "Zero-shot, from prompts only (condition sets in app/zeroshot/condition_sets). "
        "Calibration (temperature where it helps, Platt per finding) was fit on the validation "
        "split only; the test splits and the test half of the phrasings were only reported.",
        "The noise floor beside each ECE is the 95th percentile of the ECE that perfectly "
        "calibrated probabilities would show on as many studies (outcomes drawn from the "
        "probabilities): an ECE under it is within sampling noise of calibrated.",
        "",
        "| group | studies | macro AUROC | balanced accuracy | ECE exclusive before → after "
        "(noise floor) | ECE findings before → after (noise floor) |",
        "|---|---|---|---|---|---|",
    ]
    groups = {
        "in-distribution test (synthetic)": clean["in_distribution"],
        **{f"external {k}": v for k, v in clean["external"].items()},
        **{
            f"{site.removesuffix('_cv')} fold {fold} (real)": g
            for site, block in clean.items()
            if site.endswith("_cv")
            for fold, g in block["folds"].items()
        },
    }
    for name, g in groups.items():
        lines.append(
            f"| {name} | {g['n']} | {g['macro_auroc']:.3f} | {g['balanced_accuracy']:.3f} | "
            f"{g['ece_before']:.3f} → {g['ece_after']:.3f} ({g['ece_noise_floor']:.3f}) | "
            f"{g['findings_ece_before']:.3f} → {g['findings_ece_after']:.3f} "
            f"({g['findings_ece_noise_floor']:.3f}) |"
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
        "## Free text: the frozen test half of the clinician phrasings",
        "",
        "```json",
        json.dumps(
            {k: clean[k] for k in ("free_text", "text_probes", "calibration") if k in clean},
            indent=1,
            default=float,
        ),
        "```",
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
        present = ", ".join(clean["sunnybrook"]["findings_present"]) or "none"
        lines += ["", f"Findings present (probability ≥ 0.5): {present}.", ""]
    if "measurements" in clean:
        lines += _beyond_label_lines(clean)
    lines += [
        "![ROC](roc_in_distribution.png) ![confusion](confusion_in_distribution.png) "
        "![calibration](calibration_in_distribution.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
