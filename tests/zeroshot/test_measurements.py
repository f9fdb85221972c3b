"""Measurements by prompt ranking (app/zeroshot/measurements.py): the grid, the fit, the
interval."""

import numpy as np

from app.zeroshot.measurements import (
    MEASUREMENTS,
    conformal_half_width,
    estimate,
    fit_measurement,
    grid_ensembles,
    raw_estimates,
)
from app.zeroshot.scoring import normalize


def test_prompts_name_the_value_and_the_grade_a_reader_uses() -> None:
    lvef = MEASUREMENTS["lvef_pct"]
    assert lvef.prompts(25)[0] == "LVEF of 25%, severely reduced left ventricular systolic function"
    assert lvef.grade(55) == "normal" and lvef.grade(75) == "hyperdynamic"
    assert len(lvef.all_prompts()) == len(lvef.grid) * len(lvef.templates)


def _toy(rng: np.random.Generator, truth: np.ndarray, values: np.ndarray) -> tuple:
    """Studies that lie nearest the grid ensemble of their true value, plus noise."""
    grid = normalize(rng.normal(size=(len(values), 32)))
    nearest = np.abs(truth[:, None] - values[None]).argmin(axis=1)
    studies = normalize(grid[nearest] + 0.3 * rng.normal(size=(len(truth), 32)))
    return studies, grid


def test_a_fit_on_validation_studies_estimates_new_ones_with_its_coverage() -> None:
    rng = np.random.default_rng(0)
    values = np.arange(10, 86, 3, dtype=float)
    truth = rng.uniform(15, 80, 600)
    studies, grid = _toy(rng, truth, values)
    fit = fit_measurement(studies[:300], truth[:300], grid, values, scale=20.0, coverage=0.9)
    value, low, high = estimate(studies[300:], grid, values, 20.0, fit)
    assert np.mean(np.abs(value - truth[300:])) < 6
    covered = np.mean((truth[300:] >= low) & (truth[300:] <= high))
    assert 0.85 <= covered <= 0.96
    assert np.allclose(high - low, 2 * fit.half_width)


def test_expected_value_follows_the_most_similar_prompt() -> None:
    grid = np.eye(3)
    values = np.array([20.0, 50.0, 80.0])
    raw = raw_estimates(np.eye(3), grid, values, scale=50.0, temperature=1.0)
    assert np.allclose(raw, values, atol=1e-6)


def test_grid_ensembles_average_each_values_templates() -> None:
    spec = MEASUREMENTS["rvef_pct"]
    rng = np.random.default_rng(2)
    embeddings = normalize(rng.normal(size=(len(spec.all_prompts()), 16)))
    grid = grid_ensembles(spec, embeddings)
    assert grid.shape == (len(spec.grid), 16)
    first = normalize(embeddings[: len(spec.templates)].mean(axis=0))
    assert np.allclose(grid[0], first)


def test_conformal_half_width_is_the_finite_sample_quantile() -> None:
    errors = np.arange(1, 20, dtype=float)  # n = 19: ceil(20 * 0.9) = 18th smallest
    assert conformal_half_width(errors, 0.9) == 18.0
