"""Measurements of a study by prompt ranking (app/zeroshot/measurements.py), with the card's
fit: an estimate and its interval per measurement the released model was calibrated for."""

import numpy as np
from pydantic import BaseModel, ConfigDict

from app.pipeline.service import Pipeline
from app.zeroshot.measurements import MEASUREMENTS, estimate, grid_ensembles


class Measurement(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    unit: str
    value: float
    lower: float
    upper: float
    coverage: float
    grade: str  # the words a reader uses for the estimate ("moderately reduced")


async def measure_study(
    pipeline: Pipeline, study_embedding: np.ndarray, request_id: str
) -> list[Measurement]:
    """Every measurement of the card's calibration, for one unit study embedding (D,); an empty
    list for a model calibrated for none. Raises the backend's errors."""
    out = []
    for name, fit in pipeline.card.calibration.measurements.items():
        spec = MEASUREMENTS[name]
        # Pinned in the background once the gateway is ready (Pipeline.ready); until then here.
        grid_prompts = spec.all_prompts()
        if not pipeline.text.is_pinned(grid_prompts):
            await pipeline.text.pin(grid_prompts, request_id)
        prompts = await pipeline.text.prompts(grid_prompts, request_id)
        values = np.array(spec.grid, dtype=float)
        grid = grid_ensembles(spec, prompts)
        value, lower, upper = estimate(
            study_embedding[None], grid, values, pipeline.card.logit_scale, fit
        )
        out.append(
            Measurement(
                name=name,
                label=spec.label,
                unit=spec.unit,
                value=round(float(value[0]), 1),
                lower=round(float(lower[0]), 1),
                upper=round(float(upper[0]), 1),
                coverage=fit.coverage,
                grade=spec.grade(float(value[0])),
            )
        )
    return out
