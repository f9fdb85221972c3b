"""The evaluation's blocks beyond a label: explanations (which slices), measurements by prompt
ranking (how much) and few-shot prototypes (a site's own cases). `make evaluate` writes them to
eval/summary.json as `explanation`, `measurements` and `few_shot`; the measurement fits (on the
validation split) go to `calibration.measurements`, which the export copies into the card."""

from typing import Any

import numpy as np

from app.training.calibration import Calibration
from app.training.data import StudyRecord
from app.training.explanation_eval import explanation_figures
from app.training.few_shot_eval import few_shot_group, fixed_split, random_split
from app.training.measurement_eval import MeasurementGrids, cross_fitted, truth_table
from app.training.run import Run
from app.zeroshot.measurements import measurement_prompts_hash

DRAWS = 10
NEW_LABEL = "lvef_below_40"  # no shipped prompt set has it


def _findings_margins(studies: np.ndarray, calibration: Calibration) -> np.ndarray:
    positives, negatives = calibration.findings_ensembles
    return studies @ positives.T - studies @ negatives.T


def _labels(records: list[StudyRecord], names: list[str]) -> np.ndarray:
    return np.array([[r.labels.get(c, 0) for c in names] for r in records])


def measurement_blocks(
    run: Run,
    val: tuple[list[StudyRecord], np.ndarray],
    groups: dict[str, tuple[list[StudyRecord], np.ndarray]],
    acdc: tuple[list[StudyRecord], np.ndarray],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the summary block, the fits for the card's calibration)."""
    truth = truth_table(list(run.cfg.data.manifests))
    grids = MeasurementGrids(run)
    fits = grids.fit(val[1], val[0], truth)
    block: dict[str, Any] = {
        "method": "prompt ranking over a grid (EchoCLIP style): softmax over the grid of "
        "scale x cosine / temperature, expected value, linear map and split-conformal 90 % "
        "interval fit on the validation split (app/zeroshot/measurements.py)",
        "prompts_sha256": measurement_prompts_hash(),
        "truth": "synthetic: the generator's parameters; ACDC: volumes of the expert masks",
    }
    for name, (records, studies) in groups.items():
        block[name] = grids.figures(studies, records, truth, fits)
    records, studies = acdc
    if records:
        fold = [i for i, r in enumerate(records) if r.fold == run.cfg.data.test_fold]
        block["acdc_all"] = grids.figures(studies, records, truth, fits)
        block["acdc_held_out_fold"] = grids.figures(
            studies[fold], [records[i] for i in fold], truth, fits
        )
        block["acdc_cross_fitted"] = cross_fitted(grids, studies, records, truth)
    return block, {name: fit.model_dump() for name, fit in fits.items()}


def few_shot_blocks(
    run: Run,
    calibration: Calibration,
    external: tuple[list[StudyRecord], np.ndarray],
    acdc: tuple[list[StudyRecord], np.ndarray],
    findings: list[str],
) -> dict[str, Any]:
    block: dict[str, Any] = {"shots": "k studies with the label and k without, per label"}
    records, studies = external
    if records:
        margins = _findings_margins(studies, calibration)
        block["external_sites"] = few_shot_group(
            studies,
            _labels(records, findings),
            findings,
            margins,
            random_split(len(records), 0.5),
            DRAWS,
        )
        lvef = truth_table(list(run.cfg.data.manifests))
        new = np.array([[lvef[r.study_id].get("lvef_pct", 100) < 40] for r in records], int)
        block["new_label"] = {
            "label": NEW_LABEL,
            "definition": "LVEF below 40 % (generator parameter), against every other study "
            "of the external sites; no shipped prompt set describes it (the training "
            "impressions do state LVEF values)",
            **few_shot_group(
                studies,
                new,
                [NEW_LABEL],
                None,
                random_split(len(records), 0.5),
                DRAWS,
            ),
        }
    records, studies = acdc
    test_fold = run.cfg.data.test_fold
    if records:
        support = np.array([i for i, r in enumerate(records) if r.fold != test_fold])
        query = np.array([i for i, r in enumerate(records) if r.fold == test_fold])
        block["acdc"] = {
            "protocol": f"supports from ACDC folds other than {test_fold} (seen in training), "
            f"queries from fold {test_fold} (held out)",
            **few_shot_group(
                studies,
                _labels(records, findings),
                findings,
                _findings_margins(studies, calibration),
                fixed_split(support, query),
                DRAWS,
            ),
        }
    return block


def explanation_block(
    run: Run, calibration: Calibration, records: list[StudyRecord], findings: list[str]
) -> dict[str, Any]:
    """Slice hit rates on held-out synthetic studies (the test split and external sites)."""
    return explanation_figures(run, records, calibration.findings_ensembles, findings)
