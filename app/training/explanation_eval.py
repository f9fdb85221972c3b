"""Do the explanations point where the disease is? On synthetic hypertrophic and infarction
studies the generator knows which short-axis slices are affected; the two most influential
slices (occlusion, app/zeroshot/explain.py) should lie there more often than chance.

A model slice k of S (base -> apex) sits at height 1 - k / (S - 1) of the LV (the generator
acquires from just below the mitral plane to the apex; the gateway resamples that stack to S
evenly spaced slices). It is *affected* where the abnormality reaches at least half its
largest extent over the slices: the hypertrophied segment's extra thickness
(`hypertrophy_extent`: basal and mid), an infarcted sector's wall length (`cavity_profile`:
the generator's infarcts span their territory from base to apex, so nearly every slice is
affected and the test is weak for infarction; the chance figure says how weak).
"""

from math import comb
from typing import Any

import numpy as np

from app.synth.params import cavity_profile, hypertrophy_extent
from app.training.data import StudyRecord
from app.training.run import Run
from app.zeroshot.explain import PHASE_WINDOWS, hold_still, normalised, occlusion, window_frames

EXPLAINED = {
    "hypertrophic_cardiomyopathy": hypertrophy_extent,
    "myocardial_infarction": lambda height: cavity_profile(1 - height),
}
TOP = 2


def affected_slices(condition: str, slices: int) -> np.ndarray:
    """Bool (slices,): the model slices where `condition` reaches half its largest extent."""
    height = 1 - np.arange(slices) / (slices - 1)
    extent = EXPLAINED[condition](height)
    return extent >= 0.5 * extent.max()


def window_studies(run: Run, sax: np.ndarray, lax: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Unit study embeddings (W, D) of one study with each phase window held still."""
    frames = sax.shape[1]
    held = [window_frames(frames, w) for w in PHASE_WINDOWS.values()]
    study, _ = run.encode_arrays(
        np.stack([hold_still(sax, f) for f in held]),
        np.stack([hold_still(lax, f) for f in held]),
        np.repeat(present[None], len(held), axis=0),
    )
    return study


def explanation_figures(
    run: Run,
    records: list[StudyRecord],
    ensembles: tuple[np.ndarray, np.ndarray],
    finding_names: list[str],
    per_condition: int = 30,
) -> dict[str, Any]:
    """Top-2 slice hit rates against chance, per explained condition, on up to
    `per_condition` of `records` (held-out studies) with that primary diagnosis."""
    positives, negatives = ensembles
    out: dict[str, Any] = {
        "method": "occlusion of each short-axis slice (its token removed from the attention "
        "pool) in findings mode; top-2 = the two slices with the largest positive "
        "contribution to the true condition's positive-negative margin",
        "phase_windows": {k: list(v) for k, v in PHASE_WINDOWS.items()},
    }
    for condition in EXPLAINED:
        chosen = [r for r in records if r.primary_diagnosis == condition][:per_condition]
        if not chosen:
            continue
        c = finding_names.index(condition)
        both, either, window_weights = [], [], []
        slices = run.cfg.input.sax_slices
        truth = affected_slices(condition, slices)
        for cached in run.inputs(chosen):
            sax = cached.sax.astype(np.float32)
            lax = cached.lax.astype(np.float32)
            present = cached.lax_present
            study, clips = run.encode_arrays(sax[None], lax[None], present[None].astype(float))
            clip_present = np.r_[np.ones(slices, dtype=bool), present]
            result = occlusion(
                study[0],
                clips[0],
                clip_present,
                window_studies(run, sax, lax, present),
                positives[c : c + 1],
                negatives[c : c + 1],
            )
            top = np.argsort(-result.clips[0, :slices])[:TOP]
            both.append(bool(truth[top].all()))
            either.append(bool(truth[top].any()))
            window_weights.append(normalised(result.windows[0]))
        a, s = int(truth.sum()), slices
        out[condition] = {
            "n": len(chosen),
            "affected_slices": np.flatnonzero(truth).tolist(),
            "top2_both_in_territory": float(np.mean(both)),
            "chance_both": comb(a, TOP) / comb(s, TOP),
            "top2_any_in_territory": float(np.mean(either)),
            "chance_any": 1 - comb(s - a, TOP) / comb(s, TOP),
            "mean_window_weight": dict(
                zip(PHASE_WINDOWS, np.mean(window_weights, axis=0).tolist(), strict=True)
            ),
        }
    return out
