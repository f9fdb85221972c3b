"""Zero-shot evaluation of a trained run: held-out synthetic studies of the training sites,
each external site, the held-out ACDC fold of real hearts, the real Sunnybrook study, free-text
clinician phrasings, paraphrases, retrieval and the single-frame ablation. Calibration is fit
on the validation split only; the test split and the frozen test half of the phrasings are
only ever reported.

    python -m app.training.evaluate --run runs/demo [--ablation runs/demo-single-frame] --out eval
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from app.domain.vocabulary import MOTION_ONLY_CONDITION, PARAPHRASE_HOLDOUT
from app.training import metrics
from app.training.beyond_label import explanation_block, few_shot_blocks, measurement_blocks
from app.training.calibration import Calibration, fit_calibration
from app.training.data import StudyRecord, read_all_records
from app.training.free_text import free_text_figures, text_probes
from app.training.report import strip_arrays, write_report
from app.training.retrieval import retrieval
from app.training.run import Run
from app.training.train import select_records
from app.zeroshot.condition_sets import load_condition_sets
from app.zeroshot.prompt_suites import load_prompt_suite
from app.zeroshot.scoring import exclusive_probabilities, finding_probabilities

DIAGNOSIS_SET, FINDINGS_SET = "cardiac_diagnosis_v1", "cardiac_findings_v1"


def _labels(records: list[StudyRecord], conditions: list[str]) -> np.ndarray:
    return np.array([[r.labels.get(c, 0) for c in conditions] for r in records])


def _findings_auroc(
    probabilities: np.ndarray, labels: np.ndarray, names: list[str]
) -> dict[str, float]:
    return {name: metrics.auroc(probabilities[:, i], labels[:, i]) for i, name in enumerate(names)}


def _macro(values: dict[str, float]) -> float:
    finite = [v for v in values.values() if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _set_labels() -> tuple[list[str], list[str]]:
    sets = load_condition_sets()
    return list(sets[DIAGNOSIS_SET].labels), list(sets[FINDINGS_SET].labels)


def _finding_probabilities(
    run: Run, studies: np.ndarray, calibration: Calibration, calibrated: bool
) -> np.ndarray:
    _, findings = _set_labels()
    platt = calibration.platt_arrays(findings, run.scale) if calibrated else None
    probabilities, _ = finding_probabilities(
        studies, *calibration.findings_ensembles, run.scale, platt
    )
    return probabilities


def _motion_vs_normal_auroc(
    run: Run, studies: np.ndarray, records: list[StudyRecord], calibration: Calibration
) -> float:
    """AUROC of the motion-only finding among its own and normal studies only: the pair whose
    end-diastolic geometry the generator draws from one distribution, so that a single frame
    cannot tell them apart by shape (against the other diagnoses it can)."""
    _, findings = _set_labels()
    keep = [
        i for i, r in enumerate(records) if r.primary_diagnosis in ("normal", MOTION_ONLY_CONDITION)
    ]
    probabilities = _finding_probabilities(run, studies[keep], calibration, calibrated=False)
    truth = np.array([records[i].primary_diagnosis == MOTION_ONLY_CONDITION for i in keep])
    return metrics.auroc(probabilities[:, findings.index(MOTION_ONLY_CONDITION)], truth.astype(int))


def _testable_findings(labels: np.ndarray) -> list[int]:
    """Columns of findings with both classes among the studies."""
    return [i for i in range(labels.shape[1]) if 0 < labels[:, i].sum() < len(labels)]


def _mean_finding_ece(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Binary ECE per finding, averaged over findings with both classes present."""
    values = [
        metrics.expected_calibration_error(probabilities[:, i], labels[:, i])
        for i in _testable_findings(labels)
    ]
    return float(np.mean(values)) if values else float("nan")


def evaluate_group(
    run: Run, studies: np.ndarray, records: list[StudyRecord], calibration: Calibration
) -> dict[str, Any]:
    """Findings mode (AUROC, ECE, sensitivity and specificity at probability 0.5) and
    exclusive mode (balanced accuracy, confusion, ECE) on one group of held-out studies."""
    diagnoses, findings = _set_labels()
    raw_findings = _finding_probabilities(run, studies, calibration, calibrated=False)
    probabilities = _finding_probabilities(run, studies, calibration, calibrated=True)
    labels = _labels(records, findings)
    per_condition = _findings_auroc(probabilities, labels, findings)
    sensitivity, specificity = {}, {}
    for i in _testable_findings(labels):
        sens, spec = metrics.sensitivity_specificity(probabilities[:, i], labels[:, i], 0.5)
        sensitivity[findings[i]], specificity[findings[i]] = sens, spec
    truth = np.array([diagnoses.index(r.primary_diagnosis) for r in records])
    raw, _ = exclusive_probabilities(studies, calibration.diagnosis_ensembles, run.scale)
    calibrated, _ = exclusive_probabilities(
        studies, calibration.diagnosis_ensembles, run.scale, calibration.temperature
    )
    return {
        "n": len(records),
        "macro_auroc": _macro(per_condition),
        "per_condition_auroc": per_condition,
        "balanced_accuracy": metrics.balanced_accuracy(raw.argmax(1), truth, len(diagnoses)),
        "confusion_matrix": metrics.confusion_matrix(raw.argmax(1), truth, len(diagnoses)).tolist(),
        "ece_before": metrics.expected_calibration_error(raw, truth),
        "ece_after": metrics.expected_calibration_error(calibrated, truth),
        "findings_ece_before": _mean_finding_ece(raw_findings, labels),
        "findings_ece_after": _mean_finding_ece(probabilities, labels),
        # what perfectly calibrated probabilities would show on this few studies (95th pct.)
        "ece_noise_floor": metrics.ece_floor([calibrated]),
        "findings_ece_noise_floor": metrics.ece_floor(
            [probabilities[:, i] for i in _testable_findings(labels)]
        ),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "_arrays": {
            "finding_names": findings,
            "finding_probabilities": probabilities,
            "finding_raw": raw_findings,
            "finding_labels": labels,
            "diagnosis_names": diagnoses,
            "diagnosis_truth": truth,
            "diagnosis_raw": raw,
            "diagnosis_calibrated": calibrated,
        },
    }


def calibrate(run: Run, studies: np.ndarray, records: list[StudyRecord]) -> Calibration:
    """The shipped sets' calibration, fit on `records` (the validation split) only."""
    sets = load_condition_sets()
    diagnoses, findings = _set_labels()
    findings_set = sets[FINDINGS_SET]
    ensembles = {
        "diagnosis": run.ensembles(sets[DIAGNOSIS_SET]),
        "findings": (run.ensembles(findings_set), run.negative_ensembles(findings_set)),
    }
    return fit_calibration(studies, records, diagnoses, findings, ensembles, run.scale)


def paraphrase_calibration(run: Run, calibration: Calibration) -> Calibration:
    """The shipped sets with their positives replaced by the held-out paraphrases, scored as a
    custom prompt set is: uncalibrated."""
    sets = load_condition_sets()
    paraphrased = {c: tuple(p) for c, p in PARAPHRASE_HOLDOUT.items()}
    negatives = calibration.findings_ensembles[1]  # the shipped ones: only positives change
    return replace(
        calibration,
        temperature=1.0,
        platt={},
        findings_ensembles=(run.ensembles(sets[FINDINGS_SET], paraphrased), negatives),
        diagnosis_ensembles=run.ensembles(sets[DIAGNOSIS_SET], paraphrased),
    )


def calibration_block(calibration: Calibration) -> dict[str, Any]:
    return {
        "method": "exclusive: temperature kept only if it lowers 5-fold cross-validated ECE on "
        "the validation split; findings: Platt scaling of the positive-negative margin per "
        "finding, fit on the validation split; custom prompt sets: none",
        "temperature": calibration.temperature,
        "temperature_kept": calibration.temperature_kept,
        "temperature_cross_validation": calibration.temperature_evidence,
        "platt": {k: {"slope": a, "intercept": b} for k, (a, b) in calibration.platt.items()},
    }


def split_summary(run_dir: Path, split: str = "val") -> dict[str, Any]:
    """Figures on one split of the training sites, for choosing between training settings
    ("val") or telling underfitting from overfitting ("train") without looking at the test
    split; with the dev half of the clinician phrasings. Calibrated and scored on the same
    studies, so only the threshold-free figures (AUROC), the raw balanced accuracy and
    `neighbour_agreement` (share of studies whose nearest other study by video embedding has
    the same primary diagnosis) are meaningful."""
    run = Run.load(run_dir)
    chosen = select_records(run.cfg, split)
    studies = run.encode_studies(chosen)
    group = evaluate_group(run, studies, chosen, calibrate(run, studies, chosen))
    similarity = studies @ studies.T
    np.fill_diagonal(similarity, -np.inf)
    diagnoses = np.array([r.primary_diagnosis for r in chosen])
    keys = ("n", "macro_auroc", "per_condition_auroc", "balanced_accuracy")
    return {
        "split": split,
        **{key: group[key] for key in keys},
        "neighbour_agreement": float(np.mean(diagnoses[similarity.argmax(1)] == diagnoses)),
        "free_text_dev": _free_text(run, studies, chosen, "dev"),
    }


def _free_text(
    run: Run, studies: np.ndarray, records: list[StudyRecord], split: str
) -> dict[str, Any]:
    suite = load_prompt_suite()
    diagnoses, _ = _set_labels()
    return free_text_figures(
        run.encode_texts,
        studies,
        records,
        suite.select(split),
        suite.select(split, "negated"),
        load_condition_sets()[FINDINGS_SET],
        diagnoses,
    )


def evaluate(
    run_dir: Path, ablation_dir: Path | None, real_study: Path | None, version: str = "0.1.0"
) -> dict[str, Any]:
    run = Run.load(run_dir)
    cfg = run.cfg
    records = read_all_records(cfg.data.manifests)
    val, test = select_records(cfg, "val"), select_records(cfg, "test")
    # Sites with cross-validation folds (the real ACDC subjects) are reported on their own.
    folded = {r.site for r in records if r.fold is not None}
    synthetic_test = [r for r in test if r.site not in folded]
    real_test = [r for r in test if r.site in folded]
    val_studies = run.encode_studies(val)
    test_studies = run.encode_studies(synthetic_test)
    calibration = calibrate(run, val_studies, val)
    training_sites = sorted({r.site for r in val + test})
    summary: dict[str, Any] = {
        "model_version": version,
        "data": {
            "manifests": [str(m) for m in cfg.data.manifests],
            "training_sites": training_sites,
            "validation": len(val),
            "test": len(synthetic_test),
            "test_fold": cfg.data.test_fold,
        },
        "calibration": calibration_block(calibration),
        "in_distribution": evaluate_group(run, test_studies, synthetic_test, calibration),
        "external": {},
    }
    pool_records, pool_studies = val + synthetic_test, [val_studies, test_studies]
    external: dict[str, tuple[list[StudyRecord], np.ndarray]] = {}
    for site in sorted({r.site for r in records if r.site not in training_sites}):
        group = [r for r in records if r.site == site]
        group_studies = run.encode_studies(group)
        external[site] = (group, group_studies)
        summary["external"][site] = evaluate_group(run, group_studies, group, calibration)
        pool_records += group
        pool_studies.append(group_studies)
    for site in sorted(folded):
        fold_records = [r for r in real_test if r.site == site]
        fold_studies = run.encode_studies(fold_records)
        summary[f"{site}_cv"] = {
            "protocol": f"one held-out fold (fold {cfg.data.test_fold} of 5, by subject, "
            "stratified by group); the model trained on the other folds",
            "folds": {
                str(cfg.data.test_fold): evaluate_group(
                    run, fold_studies, fold_records, calibration
                ),
            },
            "free_text": _free_text(run, fold_studies, fold_records, "test"),
        }
        pool_records += fold_records
        pool_studies.append(fold_studies)
    # One pool of every study the model never trained on.
    pool = np.concatenate(pool_studies)
    summary["retrieval"] = retrieval(pool, run.encode_texts([r.impression for r in pool_records]))
    summary["free_text"] = _free_text(run, test_studies, synthetic_test, "test")
    summary["text_probes"] = text_probes(run.encode_texts, _set_labels()[1])
    summary["paraphrase"] = evaluate_group(
        run, test_studies, synthetic_test, paraphrase_calibration(run, calibration)
    )
    motion = summary["in_distribution"]["per_condition_auroc"][MOTION_ONLY_CONDITION]
    summary["ablation"] = {
        "motion_condition": MOTION_ONLY_CONDITION,
        "video_auroc": motion,
        "video_auroc_vs_normal": _motion_vs_normal_auroc(
            run, test_studies, synthetic_test, calibration
        ),
    }
    if ablation_dir is not None:
        single = Run.load(ablation_dir)
        single_calibration = calibrate(single, single.encode_studies(val), val)
        single_studies = single.encode_studies(synthetic_test)
        single_result = evaluate_group(single, single_studies, synthetic_test, single_calibration)
        summary["ablation"]["single_frame_auroc"] = single_result["per_condition_auroc"][
            MOTION_ONLY_CONDITION
        ]
        summary["ablation"]["single_frame_auroc_vs_normal"] = _motion_vs_normal_auroc(
            single, single_studies, synthetic_test, single_calibration
        )
        summary["ablation"]["single_frame_macro_auroc"] = single_result["macro_auroc"]
    if real_study is not None:
        summary["sunnybrook"] = real_case(run, real_study, calibration)
    blocks, measurement_fits = beyond_a_label(
        run, calibration, (val, val_studies), (synthetic_test, test_studies), external
    )
    summary.update(blocks)
    summary["calibration"]["measurements"] = measurement_fits
    return summary


def beyond_a_label(
    run: Run,
    calibration: Calibration,
    val: tuple[list[StudyRecord], np.ndarray],
    test: tuple[list[StudyRecord], np.ndarray],
    external: dict[str, tuple[list[StudyRecord], np.ndarray]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `explanation`, `measurements` and `few_shot` blocks (app/training/beyond_label.py)
    and the measurement fits (for the calibration block, hence the card)."""
    _, findings = _set_labels()
    folded = [r for r in read_all_records(run.cfg.data.manifests) if r.fold is not None]
    acdc = (folded, run.encode_studies(folded))
    external_records = [r for group, _ in external.values() for r in group]
    pooled = (external_records, np.concatenate([s for _, s in external.values()]))
    measurements, fits = measurement_blocks(
        run, val, {"in_distribution": test, **external, "external_pooled": pooled}, acdc
    )
    blocks = {
        "explanation": explanation_block(run, calibration, test[0] + external_records, findings),
        "measurements": measurements,
        "few_shot": few_shot_blocks(run, calibration, pooled, acdc, findings),
    }
    return blocks, fits


def real_case(run: Run, study_dir: Path, calibration: Calibration) -> dict[str, Any]:
    """One real study through the same zero-shot path: a signal, not a metric."""
    record = StudyRecord(study_id="real", study_dir=study_dir, impression="")
    study = run.encode_studies([record])
    diagnoses, findings = _set_labels()
    probabilities, _ = exclusive_probabilities(
        study, calibration.diagnosis_ensembles, run.scale, calibration.temperature
    )
    finding_p = _finding_probabilities(run, study, calibration, calibrated=True)[0]
    ranked = sorted(zip(diagnoses, probabilities[0].tolist(), strict=True), key=lambda x: -x[1])
    return {
        "diagnosis_ranking": ranked,
        "findings": dict(zip(findings, finding_p.tolist(), strict=True)),
        "findings_present": [name for name, p in zip(findings, finding_p, strict=True) if p >= 0.5],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.training.evaluate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--ablation", type=Path, help="run folder of the single-frame model")
    parser.add_argument("--real", type=Path, help="a real study folder (e.g. Sunnybrook)")
    parser.add_argument("--out", type=Path, default=Path("eval"))
    parser.add_argument("--version", default="0.1.0", help="the version the export will carry")
    parser.add_argument(
        "--split",
        choices=("val", "train"),
        help="only print this split's figures (JSON), no report",
    )
    args = parser.parse_args(argv)
    if args.split:
        print(json.dumps(split_summary(args.run, args.split), indent=2, default=float))
        return
    summary = evaluate(args.run, args.ablation, args.real, args.version)
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(summary, args.out)
    clean = strip_arrays(summary)
    (args.out / "summary.json").write_text(json.dumps(clean, indent=2, default=float))
    print((args.out / "report.md").read_text())


if __name__ == "__main__":
    main()
