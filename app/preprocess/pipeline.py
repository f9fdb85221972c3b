"""The preprocessing function. Training and serving both call `preprocess_study`; nothing else
turns a study into model input."""

from dataclasses import dataclass

import numpy as np

from app.dicom.study import CineStudy, CineView
from app.errors import NoCineSeriesError
from app.preprocess.ops import (
    crop_resample,
    interpolate_slices,
    locate_heart,
    normalize_intensity,
    resample_cycle,
)
from app.preprocess.spec import InputSpec


@dataclass(frozen=True)
class ModelInput:
    """Arrays for the video encoder, float32 in [0, 1.5].

    sax: (sax_slices, frames, crop_px, crop_px), base -> apex.
    lax: (len(lax_views), frames, crop_px, crop_px); zeros where the view is missing.
    lax_present: bool (len(lax_views),).
    """

    sax: np.ndarray
    lax: np.ndarray
    lax_present: np.ndarray
    heart_centre_px: dict[str, tuple[float, float]]


def _view_clips(view: CineView, spec: InputSpec) -> tuple[np.ndarray, tuple[float, float]]:
    """(S, frames, crop, crop) of one view, and the heart centre found in it (pixels).

    Crop first, then resample in time: both steps are linear, so the order does not change
    the result, and the time resampling then runs on 64^2 crops instead of 256^2 frames.
    """
    # Mid-ventricular slices: basal ones add the atria, which pull the centre off the LV.
    middle = slice(view.n_slices // 4, max(view.n_slices - view.n_slices // 4, 1))
    centre = locate_heart(view.pixels[middle], view.pixel_spacing_mm)
    slices, phases, rows, cols = view.pixels.shape
    cropped = crop_resample(
        view.pixels.reshape(slices * phases, rows, cols),
        centre,
        view.pixel_spacing_mm,
        spec.pixel_mm,
        spec.crop_px,
    ).reshape(slices, phases, spec.crop_px, spec.crop_px)
    cycles = np.stack(
        [
            resample_cycle(cropped[s], view.trigger_times_ms[s], view.rr_interval_ms, spec.frames)
            for s in range(slices)
        ]
    )  # (S, frames, crop, crop)
    return normalize_intensity(cycles, spec.intensity_percentiles), centre


def preprocess_study(study: CineStudy, spec: InputSpec) -> ModelInput:
    """CineStudy -> ModelInput per `spec`. Deterministic.

    Per view: every slice resampled to `frames` points of its own cardiac cycle (so slices
    acquired at different heart rates align), heart located by its motion, square crop resampled
    to `pixel_mm`, robust intensity normalisation. The short-axis stack is then resampled to
    `sax_slices` evenly spaced slices from base to apex. Raises NoCineSeriesError without a
    short-axis stack: the model needs one, and a study of long-axis clips alone (or of a single
    plane's key frames) is no study it can read.
    """
    if study.sax is None:
        found = ", ".join(sorted(study.views)) or "none"
        raise NoCineSeriesError(
            f"no short-axis cine stack (3 or more parallel slices); views found: {found}"
        )
    sax, sax_centre = _view_clips(study.sax, spec)
    centres = {"sax": sax_centre}
    shape = (spec.frames, spec.crop_px, spec.crop_px)
    lax = np.zeros((len(spec.lax_views), *shape), dtype=np.float32)
    present = np.zeros(len(spec.lax_views), dtype=bool)
    for i, name in enumerate(spec.lax_views):
        view = study.views.get(name)
        if view is None:
            continue
        clips, centres[name] = _view_clips(view, spec)
        lax[i] = clips[view.n_slices // 2]
        present[i] = True
    return ModelInput(
        sax=interpolate_slices(sax, spec.sax_slices),
        lax=lax,
        lax_present=present,
        heart_centre_px=centres,
    )
