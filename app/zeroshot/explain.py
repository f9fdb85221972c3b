"""Which clip (short-axis slice, long-axis view) and which phase window drove a score: occlusion,
numpy only (the gateway and the evaluation share it).

- **Clips.** The video encoder pools its clip tokens by attention and projects the pooled
  token linearly, so the study embedding is a weighted sum of the clip embeddings; in unit
  vectors, study = sum_i beta_i * clip_i exactly. `pooling_weights` recovers beta by least
  squares from the two outputs every backend returns (no re-encoding, no new model output).
  Occluding clip i removes its token from the pool, which is what the model itself does with
  an absent long-axis view: the occluded study points along study - beta_i * clip_i.
- **Phase windows.** Time is mixed inside each clip's encoder, so a window is occluded by
  re-encoding the study with every clip held still over it (each frame of the window replaced
  by the frame just before the window): the motion of that window is gone, the anatomy stays.
- **Contribution** of a clip or window to a condition = score(study) - score(occluded study),
  where the score is what the probability is a function of: the positive-negative margin in
  findings mode, the condition's cosine minus the mean cosine of all conditions in exclusive
  mode. The `weight`s of the clips (and, apart, of the windows) are these contributions divided
  by the sum of their absolute values: signed, summing to 1 in absolute value; positive means
  the clip or window argued for the condition.
"""

from dataclasses import dataclass

import numpy as np

from app.zeroshot.scoring import normalize

# Phase windows as fractions of the cardiac cycle from the R wave (model frames are evenly
# spaced over each slice's own cycle): ejection up to end-systole, then filling.
PHASE_WINDOWS: dict[str, tuple[float, float]] = {"systole": (0.0, 0.4), "diastole": (0.4, 1.0)}
MAX_POOLING_RESIDUAL = 1e-3


class PoolingMismatchError(ValueError):
    """The study embedding is not a weighted sum of the clip embeddings: a model whose pooling
    this module does not understand."""


def pooling_weights(study: np.ndarray, clips: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Unit study (D,), unit clips (C, D), present (C,) bool -> beta (C,), 0 where absent, with
    study = beta @ clips. Raises PoolingMismatchError when no such beta exists."""
    beta = np.zeros(len(clips))
    solution, *_ = np.linalg.lstsq(clips[present].T, study, rcond=None)
    beta[present] = solution
    if np.linalg.norm(beta @ clips - study) > MAX_POOLING_RESIDUAL:
        raise PoolingMismatchError("the study embedding is not a pooled sum of its clips")
    return beta


def clip_occluded(study: np.ndarray, clips: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Unit study embeddings (C, D) with each clip in turn removed from the pool."""
    return normalize(study[None] - beta[:, None] * clips)


def window_frames(frames: int, window: tuple[float, float]) -> np.ndarray:
    """Indices of the model frames inside a window of the cycle (fractions from the R wave)."""
    fraction = np.arange(frames) / frames
    return np.flatnonzero((fraction >= window[0]) & (fraction < window[1]))


def hold_still(clips: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """clips (..., T, H, W) with the given frames replaced by the frame before the first of
    them (cyclically): the motion over those frames removed."""
    held = clips.copy()
    held[..., frames, :, :] = clips[..., (frames[0] - 1) % clips.shape[-3], None, :, :]
    return held


def condition_scores(
    studies: np.ndarray, positives: np.ndarray, negatives: np.ndarray | None
) -> np.ndarray:
    """Unit studies (N, D) -> the score each condition's probability is a function of (N, C):
    findings (`negatives` given) cos(positive) - cos(negative); exclusive cos(positive) minus
    the mean over the conditions."""
    similarity = studies @ positives.T
    if negatives is not None:
        return similarity - studies @ negatives.T
    return similarity - similarity.mean(axis=1, keepdims=True)


def normalised(contributions: np.ndarray) -> np.ndarray:
    """Contributions (..., K) -> divided by the sum of their absolute values over K."""
    total = np.abs(contributions).sum(axis=-1, keepdims=True)
    return contributions / np.where(total > 0, total, 1.0)


@dataclass(frozen=True)
class Occlusion:
    """Contributions per condition: clips (C, n_clips) and windows (C, n_windows), the score
    change when each is occluded (absent clips 0)."""

    clips: np.ndarray
    windows: np.ndarray


def occlusion(
    study: np.ndarray,
    clips: np.ndarray,
    present: np.ndarray,
    window_studies: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray | None,
) -> Occlusion:
    """study (D,), clips (n_clips, D) unit; present (n_clips,) bool; window_studies (W, D) the
    unit study re-encoded with each phase window held still; condition ensembles (C, D)."""
    beta = pooling_weights(study, clips, present)
    full = condition_scores(study[None], positives, negatives)  # (1, C)
    by_clip = full - condition_scores(clip_occluded(study, clips, beta), positives, negatives)
    by_window = full - condition_scores(window_studies, positives, negatives)
    return Occlusion(clips=(by_clip * present[:, None]).T, windows=by_window.T)


def slice_level(index: int, slices: int) -> str:
    """The level of a short-axis slice (0 = base): basal, mid or apical thirds of the stack."""
    position = index / max(slices - 1, 1)
    return "basal" if position < 1 / 3 else "mid" if position < 2 / 3 else "apical"


def levels_in_words(indices: list[int], slices: int) -> str:
    """Short-axis slice indices -> "basal to mid slices", "apical slices" (ordered base first)."""
    order = ("basal", "mid", "apical")
    levels = sorted({slice_level(i, slices) for i in indices}, key=order.index)
    if not levels:
        return ""
    span = levels[0] if len(levels) == 1 else f"{levels[0]} to {levels[-1]}"
    return f"{span} short-axis slice{'s' if len(indices) > 1 else ''}"
