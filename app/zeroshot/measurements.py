"""Measurements by prompt ranking (EchoCLIP style), numpy only: the study is compared with the
prompts "LVEF of N %" over a grid of N, and the grid becomes a distribution.

    p(N) = softmax_N(scale * cos(study, prompts(N)) / temperature)     (grid ensembles)
    raw  = sum_N p(N) * N                                                (expected value)
    estimate = intercept + slope * raw                                   (fit on validation)
    interval = estimate -/+ half_width                                   (split conformal)

The temperature, the linear map and the half-width (the `coverage` quantile of the validation
split's absolute errors, finite-sample corrected) are fit on the validation split only and
travel in the model card (`calibration.measurements`); a model without them estimates nothing.
"""

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from app.zeroshot.scoring import ensemble

TEMPERATURES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True)
class MeasurementSpec:
    name: str
    label: str  # what a reader calls it
    unit: str
    templates: tuple[str, ...]  # "{value}" and "{grade}" are filled in per grid value
    grid: tuple[int, ...]
    grades: tuple[tuple[float, str], ...]  # (upper bound, words a reader uses below it)

    def grade(self, value: float) -> str:
        return next((words for bound, words in self.grades if value < bound), self.grades[-1][1])

    def prompts(self, value: int) -> list[str]:
        return [t.format(value=value, grade=self.grade(value)) for t in self.templates]

    def all_prompts(self) -> list[str]:
        return [p for value in self.grid for p in self.prompts(value)]


_EF_GRADES = (
    (30.0, "severely reduced"),
    (40.0, "moderately reduced"),
    (50.0, "mildly reduced"),
    (70.0, "normal"),
    (1e9, "hyperdynamic"),
)
MEASUREMENTS: dict[str, MeasurementSpec] = {
    spec.name: spec
    for spec in (
        MeasurementSpec(
            "lvef_pct",
            "LV ejection fraction",
            "%",
            (
                "LVEF of {value}%, {grade} left ventricular systolic function",
                "{grade} left ventricular ejection fraction of {value}%",
            ),
            tuple(range(10, 86, 3)),
            _EF_GRADES,
        ),
        MeasurementSpec(
            "lvedvi_ml_m2",
            "LV end-diastolic volume index",
            "mL/m²",
            (
                "LVEDVi {value} mL/m², {grade}",
                "{grade}, indexed LV end-diastolic volume {value} mL/m²",
            ),
            tuple(range(40, 200, 6)),
            (
                (100.0, "normal left ventricular size"),
                (120.0, "mildly dilated left ventricle"),
                (140.0, "moderately dilated left ventricle"),
                (1e9, "severely dilated left ventricle"),
            ),
        ),
        MeasurementSpec(
            "rvef_pct",
            "RV ejection fraction",
            "%",
            (
                "RVEF of {value}%, {grade} right ventricular systolic function",
                "{grade} right ventricular ejection fraction of {value}%",
            ),
            tuple(range(10, 86, 3)),
            _EF_GRADES,
        ),
    )
}


def measurement_prompts_hash() -> str:
    canonical = json.dumps(
        {n: [list(s.templates), list(s.grid), list(s.grades)] for n, s in MEASUREMENTS.items()},
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class MeasurementCalibration(BaseModel):
    """One measurement's fit on the validation split (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    temperature: float = Field(gt=0)
    intercept: float
    slope: float
    half_width: float = Field(ge=0, description="the interval's half-width, in the unit")
    coverage: float = Field(gt=0, lt=1, description="nominal coverage of the interval")


def grid_ensembles(spec: MeasurementSpec, prompt_embeddings: np.ndarray) -> np.ndarray:
    """Unit embeddings of `spec.all_prompts()` (G * P, D) -> one ensemble per grid value (G, D)."""
    per_value = prompt_embeddings.reshape(len(spec.grid), len(spec.templates), -1)
    return np.stack([ensemble(p) for p in per_value])


def raw_estimates(
    studies: np.ndarray, grid: np.ndarray, values: np.ndarray, scale: float, temperature: float
) -> np.ndarray:
    """Unit studies (N, D), grid ensembles (G, D), grid values (G,) -> expected value (N,)."""
    logits = scale * (studies @ grid.T) / temperature
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)) @ values


def conformal_half_width(errors: np.ndarray, coverage: float) -> float:
    """Split-conformal half-width: the ceil((n + 1) * coverage)-th smallest absolute error."""
    ranked = np.sort(np.abs(errors))
    k = min(int(np.ceil((len(ranked) + 1) * coverage)), len(ranked))
    return float(ranked[k - 1])


def fit_measurement(
    studies: np.ndarray,
    truth: np.ndarray,
    grid: np.ndarray,
    values: np.ndarray,
    scale: float,
    coverage: float = 0.9,
) -> MeasurementCalibration:
    """The temperature (of TEMPERATURES) with the lowest mean absolute error after the linear
    map, the map (least squares), and the conformal half-width; all on these studies."""
    best: MeasurementCalibration | None = None
    best_mae = np.inf
    for temperature in TEMPERATURES:
        raw = raw_estimates(studies, grid, values, scale, temperature)
        slope, intercept = np.polyfit(raw, truth, 1)
        errors = truth - (intercept + slope * raw)
        if np.mean(np.abs(errors)) < best_mae:
            best_mae = float(np.mean(np.abs(errors)))
            best = MeasurementCalibration(
                temperature=temperature,
                intercept=float(intercept),
                slope=float(slope),
                half_width=conformal_half_width(errors, coverage),
                coverage=coverage,
            )
    assert best is not None
    return best


def estimate(
    studies: np.ndarray,
    grid: np.ndarray,
    values: np.ndarray,
    scale: float,
    fit: MeasurementCalibration,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimates, lower, upper) (N,) each, in the measurement's unit."""
    raw = raw_estimates(studies, grid, values, scale, fit.temperature)
    value = fit.intercept + fit.slope * raw
    return value, value - fit.half_width, value + fit.half_width
