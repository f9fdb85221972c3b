"""Zero-shot evaluation of a trained run: held-out studies of the training sites and each
external site separately, retrieval, the single-frame ablation and paraphrased prompts.

    python -m app.training.evaluate --run runs/demo [--ablation runs/demo-single-frame] --out eval
"""

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from app.domain.vocabulary import MOTION_ONLY_CONDITION, PARAPHRASE_HOLDOUT
from app.model.clip import CmrClip
from app.text.tokenizer import encode_sentences, load_tokenizer
from app.training import metrics
from app.training.config import RunConfig
from app.training.data import StudyCache, StudyRecord, read_records, split_of
from app.training.report import strip_arrays, write_report
from app.training.train import build_model
from app.zeroshot.condition_sets import ConditionSet, load_condition_sets
from app.zeroshot.scoring import ensemble, exclusive_probabilities, finding_probabilities

DIAGNOSIS_SET, FINDINGS_SET = "cardiac_diagnosis_v1", "cardiac_findings_v1"


@dataclass
class Run:
    model: CmrClip
    tokenizer: Tokenizer
    cfg: RunConfig

    @classmethod
    def load(cls, folder: Path) -> "Run":
        cfg = RunConfig.model_validate_json((folder / "config.json").read_text())
        tokenizer = load_tokenizer(folder / "tokenizer.json")
        model = build_model(cfg, tokenizer.get_vocab_size())
        model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu")["model"])
        return cls(model.eval(), tokenizer, cfg)

    @property
    def scale(self) -> float:
        return float(self.model.scale().detach())

    @torch.no_grad()
    def encode_studies(self, records: list[StudyRecord], batch: int = 16) -> np.ndarray:
        cache = StudyCache(self.cfg.data.cache_dir, self.cfg.input)
        inputs = cache.warm(records, workers=1)
        out = []
        for start in range(0, len(inputs), batch):
            chunk = inputs[start : start + batch]
            sax = torch.from_numpy(np.stack([c.sax for c in chunk]).astype(np.float32))
            lax = torch.from_numpy(np.stack([c.lax for c in chunk]).astype(np.float32))
            present = torch.from_numpy(np.stack([c.lax_present for c in chunk])).float()
            out.append(self.model.encode_video(sax, lax, present).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.cfg.video.embed_dim))

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        d = self.cfg.data
        ids, mask, sentences = encode_sentences(
            self.tokenizer, texts, d.max_tokens, d.max_sentences
        )
        tensors = (torch.from_numpy(a) for a in (ids, mask, sentences))
        return self.model.encode_text(*tensors).numpy()

    def ensembles(
        self, condition_set: ConditionSet, prompts: dict[str, tuple[str, ...]] | None = None
    ):
        """Positive and negative prompt ensembles (C, D); `prompts` replaces the positives."""
        positive = [
            ensemble(self.encode_texts(list((prompts or {}).get(c.label, c.prompts))))
            for c in condition_set.conditions
        ]
        negative = [
            ensemble(self.encode_texts(list(c.negative_prompts))) for c in condition_set.conditions
        ]
        return np.stack(positive), np.stack(negative)


def _labels(records: list[StudyRecord], conditions: list[str]) -> np.ndarray:
    return np.array([[r.labels.get(c, 0) for c in conditions] for r in records])


def _findings_auroc(
    probabilities: np.ndarray, labels: np.ndarray, names: list[str]
) -> dict[str, float]:
    return {name: metrics.auroc(probabilities[:, i], labels[:, i]) for i, name in enumerate(names)}


def _macro(values: dict[str, float]) -> float:
    finite = [v for v in values.values() if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _motion_vs_normal_auroc(
    run: Run, studies: np.ndarray, records: list[StudyRecord], calibration: dict[str, Any]
) -> float:
    """AUROC of the motion-only finding among its own and normal studies only: the pair whose
    end-diastolic geometry the generator draws from one distribution, so that a single frame
    cannot tell them apart by shape (against the other diagnoses it can)."""
    findings = [c.label for c in load_condition_sets()[FINDINGS_SET].conditions]
    pair = ("normal", MOTION_ONLY_CONDITION)
    keep = [i for i, r in enumerate(records) if r.primary_diagnosis in pair]
    probabilities, _ = finding_probabilities(
        studies[keep], *calibration["findings_ensembles"], run.scale
    )
    truth = np.array([records[i].primary_diagnosis == MOTION_ONLY_CONDITION for i in keep])
    return metrics.auroc(probabilities[:, findings.index(MOTION_ONLY_CONDITION)], truth.astype(int))


def evaluate_group(
    run: Run, studies: np.ndarray, records: list[StudyRecord], calibration: dict[str, Any]
) -> dict[str, Any]:
    sets = load_condition_sets()
    findings = [c.label for c in sets[FINDINGS_SET].conditions]
    positives, negatives = calibration["findings_ensembles"]
    probabilities, _ = finding_probabilities(studies, positives, negatives, run.scale)
    labels = _labels(records, findings)
    per_condition = _findings_auroc(probabilities, labels, findings)
    sensitivity, specificity = {}, {}
    for i, name in enumerate(findings):
        threshold = calibration["thresholds"].get(name)
        if threshold is not None:
            sens, spec = metrics.sensitivity_specificity(
                probabilities[:, i], labels[:, i], threshold
            )
            sensitivity[name], specificity[name] = sens, spec
    diagnoses = [c.label for c in sets[DIAGNOSIS_SET].conditions]
    truth = np.array([diagnoses.index(r.primary_diagnosis) for r in records])
    raw, _ = exclusive_probabilities(studies, calibration["diagnosis_ensembles"], run.scale)
    calibrated, _ = exclusive_probabilities(
        studies, calibration["diagnosis_ensembles"], run.scale, calibration["temperature"]
    )
    return {
        "n": len(records),
        "macro_auroc": _macro(per_condition),
        "per_condition_auroc": per_condition,
        "balanced_accuracy": metrics.balanced_accuracy(raw.argmax(1), truth, len(diagnoses)),
        "confusion_matrix": metrics.confusion_matrix(raw.argmax(1), truth, len(diagnoses)).tolist(),
        "ece_before": metrics.expected_calibration_error(raw, truth),
        "ece_after": metrics.expected_calibration_error(calibrated, truth),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "_arrays": {
            "finding_names": findings,
            "finding_probabilities": probabilities,
            "finding_labels": labels,
            "diagnosis_names": diagnoses,
            "diagnosis_truth": truth,
            "diagnosis_raw": raw,
            "diagnosis_calibrated": calibrated,
        },
    }


def calibrate(run: Run, studies: np.ndarray, records: list[StudyRecord]) -> dict[str, Any]:
    """Temperature (exclusive) and per-finding thresholds, fit on the validation split only."""
    sets = load_condition_sets()
    findings_ensembles = run.ensembles(sets[FINDINGS_SET])
    diagnosis_ensembles = run.ensembles(sets[DIAGNOSIS_SET])[0]
    diagnoses = [c.label for c in sets[DIAGNOSIS_SET].conditions]
    truth = np.array([diagnoses.index(r.primary_diagnosis) for r in records])
    _, similarity = exclusive_probabilities(studies, diagnosis_ensembles, run.scale)
    temperature = metrics.fit_temperature(run.scale * similarity, truth)
    findings = [c.label for c in sets[FINDINGS_SET].conditions]
    probabilities, _ = finding_probabilities(studies, *findings_ensembles, run.scale)
    labels = _labels(records, findings)
    thresholds = {
        name: metrics.youden_threshold(probabilities[:, i], labels[:, i])
        for i, name in enumerate(findings)
        if 0 < labels[:, i].sum() < len(labels)
    }
    return {
        "temperature": temperature,
        "thresholds": thresholds,
        "findings_ensembles": findings_ensembles,
        "diagnosis_ensembles": diagnosis_ensembles,
    }


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


def retrieval(run: Run, studies: np.ndarray, records: list[StudyRecord]) -> dict[str, Any]:
    """Recall@k and median rank in the whole pool, and the mean over POOL_DRAWS fixed random
    pools of TARGET_POOL studies drawn from it (the size the target is set for: recall falls
    as the pool grows)."""
    texts = run.encode_texts([r.impression for r in records])
    study_to_text = studies @ texts.T
    out: dict[str, Any] = {"pool": len(records), **_retrieval_figures(study_to_text)}
    if len(records) > TARGET_POOL:
        rng = np.random.default_rng(0)
        draws = [rng.choice(len(records), TARGET_POOL, replace=False) for _ in range(POOL_DRAWS)]
        figures = [_retrieval_figures(study_to_text[np.ix_(d, d)]) for d in draws]
        out[f"pool_{TARGET_POOL}"] = {
            "pool": TARGET_POOL,
            "draws": POOL_DRAWS,
            **{key: float(np.mean([f[key] for f in figures])) for key in figures[0]},
        }
    return out


def split_summary(run_dir: Path, split: str = "val") -> dict[str, Any]:
    """Figures on one split of the training sites, for choosing between training settings
    ("val") or telling underfitting from overfitting ("train") without looking at the test
    split. Calibrated and scored on the same studies, so only the threshold-free figures
    (AUROC), the raw balanced accuracy and `neighbour_agreement` (share of studies whose
    nearest other study by video embedding has the same primary diagnosis) are meaningful."""
    run = Run.load(run_dir)
    cfg = run.cfg
    records = read_records(cfg.data.manifest)
    sites = cfg.data.training_sites or tuple(sorted({r.site for r in records if not r.external}))
    chosen = [
        r
        for r in records
        if r.site in sites
        and split_of(r.study_id, cfg.data.val_fraction, cfg.data.test_fraction) == split
    ]
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
    }


def evaluate(
    run_dir: Path, ablation_dir: Path | None, real_study: Path | None, version: str = "0.1.0"
) -> dict[str, Any]:
    run = Run.load(run_dir)
    cfg = run.cfg
    records = read_records(cfg.data.manifest)
    sites = cfg.data.training_sites or tuple(sorted({r.site for r in records if not r.external}))

    def held_out(split: str) -> list[StudyRecord]:
        return [
            r
            for r in records
            if r.site in sites
            and split_of(r.study_id, cfg.data.val_fraction, cfg.data.test_fraction) == split
        ]

    val, test = held_out("val"), held_out("test")
    val_studies, test_studies = run.encode_studies(val), run.encode_studies(test)
    calibration = calibrate(run, val_studies, val)
    summary: dict[str, Any] = {
        "model_version": version,
        "data": {
            "manifest": str(cfg.data.manifest),
            "training_sites": list(sites),
            "validation": len(val),
            "test": len(test),
        },
        "calibration": {
            "temperature": calibration["temperature"],
            "thresholds": calibration["thresholds"],
        },
        "in_distribution": evaluate_group(run, test_studies, test, calibration),
        "external": {},
    }
    pool_records, pool_studies = val + test, [val_studies, test_studies]
    for site in sorted({r.site for r in records if r.site not in sites}):
        group = [r for r in records if r.site == site]
        group_studies = run.encode_studies(group)
        summary["external"][site] = evaluate_group(run, group_studies, group, calibration)
        pool_records += group
        pool_studies.append(group_studies)
    # One pool of every study the model never trained on (held-out and external sites).
    summary["retrieval"] = retrieval(run, np.concatenate(pool_studies), pool_records)
    paraphrased = {c: tuple(p) for c, p in PARAPHRASE_HOLDOUT.items()}
    paraphrase_calibration = {
        **calibration,
        "findings_ensembles": run.ensembles(load_condition_sets()[FINDINGS_SET], paraphrased),
    }
    summary["paraphrase"] = evaluate_group(run, test_studies, test, paraphrase_calibration)
    motion = summary["in_distribution"]["per_condition_auroc"][MOTION_ONLY_CONDITION]
    summary["ablation"] = {
        "motion_condition": MOTION_ONLY_CONDITION,
        "video_auroc": motion,
        "video_auroc_vs_normal": _motion_vs_normal_auroc(run, test_studies, test, calibration),
    }
    if ablation_dir is not None:
        single = Run.load(ablation_dir)
        single_calibration = calibrate(single, single.encode_studies(val), val)
        single_studies = single.encode_studies(test)
        single_result = evaluate_group(single, single_studies, test, single_calibration)
        summary["ablation"]["single_frame_auroc"] = single_result["per_condition_auroc"][
            MOTION_ONLY_CONDITION
        ]
        summary["ablation"]["single_frame_auroc_vs_normal"] = _motion_vs_normal_auroc(
            single, single_studies, test, single_calibration
        )
        summary["ablation"]["single_frame_macro_auroc"] = single_result["macro_auroc"]
    if real_study is not None:
        summary["sunnybrook"] = real_case(run, real_study, calibration)
    return summary


def real_case(run: Run, study_dir: Path, calibration: dict[str, Any]) -> dict[str, Any]:
    """One real study through the same zero-shot path: a signal, not a metric."""
    record = StudyRecord(study_id="real", study_dir=study_dir, impression="")
    study = run.encode_studies([record])
    sets = load_condition_sets()
    diagnoses = [c.label for c in sets[DIAGNOSIS_SET].conditions]
    probabilities, _ = exclusive_probabilities(
        study, calibration["diagnosis_ensembles"], run.scale, calibration["temperature"]
    )
    findings = [c.label for c in sets[FINDINGS_SET].conditions]
    finding_p, _ = finding_probabilities(study, *calibration["findings_ensembles"], run.scale)
    ranked = sorted(zip(diagnoses, probabilities[0].tolist(), strict=True), key=lambda x: -x[1])
    return {
        "diagnosis_ranking": ranked,
        "findings": dict(zip(findings, finding_p[0].tolist(), strict=True)),
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
