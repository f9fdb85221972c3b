"""LVEF, LVEDVi and RVEF by prompt ranking (app/zeroshot/measurements.py) against the truth:
the generator's parameters for synthetic studies, the expert masks' volumes for ACDC.

The temperature, linear map and interval are fit on the validation split only. ACDC is also
reported cross-fitted: the map and interval fit on four folds of ACDC and applied to the fifth
(the encoder itself trained on folds 1-4, whose impressions state these volumes; fold 5 is the
one held out of training and is reported apart).
"""

from pathlib import Path
from typing import Any

import numpy as np

from app.domain.manifest import read_manifest
from app.training.data import StudyRecord
from app.training.run import Run
from app.zeroshot.measurements import (
    MEASUREMENTS,
    MeasurementCalibration,
    estimate,
    fit_measurement,
    grid_ensembles,
)


def truth_table(manifests: list[Path]) -> dict[str, dict[str, float]]:
    """study id -> measurement name -> true value, from the manifests' parameter columns."""
    table: dict[str, dict[str, float]] = {}
    for manifest in manifests:
        for row in read_manifest(manifest):
            values = {
                "lvef_pct": row.get("lvef_pct"),
                "rvef_pct": row.get("rvef_pct"),
                "lvedvi_ml_m2": (
                    float(row["lvedv_ml"]) / float(row["bsa_m2"])
                    if row.get("lvedv_ml") and row.get("bsa_m2")
                    else None
                ),
            }
            table[row["study_id"]] = {k: float(v) for k, v in values.items() if v}
    return table


class MeasurementGrids:
    """The grid ensembles and values of every measurement for one run."""

    def __init__(self, run: Run):
        self.run = run
        self.grids = {
            name: (
                grid_ensembles(spec, run.encode_texts(spec.all_prompts())),
                np.array(spec.grid, dtype=float),
            )
            for name, spec in MEASUREMENTS.items()
        }

    def fit(
        self, studies: np.ndarray, records: list[StudyRecord], truth: dict[str, dict[str, float]]
    ) -> dict[str, MeasurementCalibration]:
        fits = {}
        for name, (grid, values) in self.grids.items():
            keep = [i for i, r in enumerate(records) if name in truth.get(r.study_id, {})]
            target = np.array([truth[records[i].study_id][name] for i in keep])
            fits[name] = fit_measurement(studies[keep], target, grid, values, self.run.scale)
        return fits

    def figures(
        self,
        studies: np.ndarray,
        records: list[StudyRecord],
        truth: dict[str, dict[str, float]],
        fits: dict[str, MeasurementCalibration],
    ) -> dict[str, Any]:
        """MAE, bias, limits of agreement, interval coverage per measurement (and, under
        `_arrays`, the pairs for the Bland-Altman plot)."""
        out: dict[str, Any] = {"n": len(records), "_arrays": {}}
        for name, (grid, values) in self.grids.items():
            keep = [i for i, r in enumerate(records) if name in truth.get(r.study_id, {})]
            if not keep:
                continue
            target = np.array([truth[records[i].study_id][name] for i in keep])
            value, low, high = estimate(studies[keep], grid, values, self.run.scale, fits[name])
            out[name] = agreement(value, low, high, target)
            out["_arrays"][name] = {"estimate": value, "truth": target}
        return out


def agreement(value: np.ndarray, low: np.ndarray, high: np.ndarray, truth: np.ndarray) -> dict:
    difference = value - truth
    sd = float(np.std(difference, ddof=1)) if len(difference) > 1 else float("nan")
    return {
        "n": len(truth),
        "mae": float(np.mean(np.abs(difference))),
        "bias": float(np.mean(difference)),
        "limits_of_agreement": [
            float(np.mean(difference) - 1.96 * sd),
            float(np.mean(difference) + 1.96 * sd),
        ],
        "interval_coverage": float(np.mean((truth >= low) & (truth <= high))),
        "mean_interval_width": float(np.mean(high - low)),
        "pearson_r": float(np.corrcoef(value, truth)[0, 1]) if len(truth) > 2 else float("nan"),
    }


def cross_fitted(
    grids: MeasurementGrids,
    studies: np.ndarray,
    records: list[StudyRecord],
    truth: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Per fold: fit on the other folds, estimate this one; figures over all folds pooled."""
    folds = sorted({r.fold for r in records if r.fold is not None})
    pooled: dict[str, list[np.ndarray]] = {}
    for fold in folds:
        inside = [i for i, r in enumerate(records) if r.fold == fold]
        outside = [i for i, r in enumerate(records) if r.fold != fold]
        fits = grids.fit(studies[outside], [records[i] for i in outside], truth)
        part = grids.figures(studies[inside], [records[i] for i in inside], truth, fits)
        for name, arrays in part["_arrays"].items():
            low = arrays["estimate"] - fits[name].half_width
            high = arrays["estimate"] + fits[name].half_width
            rows = np.stack([arrays["estimate"], low, high, arrays["truth"]])
            pooled.setdefault(name, []).append(rows)
    out: dict[str, Any] = {"n": len(records), "_arrays": {}}
    for name, parts in pooled.items():
        value, low, high, target = np.concatenate(parts, axis=1)
        out[name] = agreement(value, low, high, target)
        out["_arrays"][name] = {"estimate": value, "truth": target}
    return out
