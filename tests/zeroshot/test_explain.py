"""Occlusion of clips and phase windows (app/zeroshot/explain.py), on toy vectors and on the
released encoder itself."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app.dicom.ingest import load_study
from app.model_card import load_model_card
from app.preprocess.pipeline import preprocess_study
from app.synth.study import synthesize_study
from app.zeroshot.explain import (
    PoolingMismatchError,
    clip_occluded,
    condition_scores,
    hold_still,
    levels_in_words,
    normalised,
    occlusion,
    pooling_weights,
    window_frames,
)
from app.zeroshot.scoring import normalize

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


def test_pooling_weights_recover_a_weighted_sum_and_refuse_anything_else() -> None:
    rng = np.random.default_rng(0)
    clips = normalize(rng.normal(size=(9, 128)))
    beta = rng.uniform(0.1, 1, 9)
    study = beta @ clips
    scale = np.linalg.norm(study)
    present = np.ones(9, dtype=bool)
    assert np.allclose(pooling_weights(study / scale, clips, present), beta / scale)
    with pytest.raises(PoolingMismatchError):
        pooling_weights(normalize(rng.normal(size=128)), clips, present)


def test_window_frames_and_holding_still() -> None:
    assert window_frames(16, (0.0, 0.4)).tolist() == list(range(7))
    assert window_frames(16, (0.4, 1.0)).tolist() == list(range(7, 16))
    clips = np.arange(2 * 4 * 1 * 1, dtype=float).reshape(2, 4, 1, 1)
    held = hold_still(clips, np.array([1, 2]))
    assert held[:, 1:3, 0, 0].tolist() == [[0, 0], [4, 4]]
    assert (hold_still(clips, np.array([0, 1]))[:, :2] == clips[:, 3:4]).all()  # wraps


def test_weights_are_signed_and_sum_to_one_in_absolute_value() -> None:
    weights = normalised(np.array([[0.2, -0.1, 0.1], [0.0, 0.0, 0.0]]))
    assert np.allclose(np.abs(weights[0]).sum(), 1) and weights[0, 1] < 0
    assert (weights[1] == 0).all()


def test_levels_in_words() -> None:
    assert levels_in_words([0, 3], 8) == "basal to mid short-axis slices"
    assert levels_in_words([7], 8) == "apical short-axis slice"
    assert levels_in_words([6, 1], 8) == "basal to apical short-axis slices"


def test_a_clip_drawn_towards_a_condition_drives_it() -> None:
    rng = np.random.default_rng(1)
    condition = normalize(rng.normal(size=64))
    clips = normalize(rng.normal(size=(5, 64)))
    clips[2] = normalize(clips[2] + 3 * condition)
    study = normalize(clips.mean(axis=0))
    conditions = np.stack([condition, normalize(rng.normal(size=64))])
    result = occlusion(study, clips, np.ones(5, dtype=bool), study[None], conditions, None)
    assert result.clips[0].argmax() == 2  # exclusive: against the other condition
    assert np.allclose(result.windows, 0)


@pytest.fixture(scope="module")
def released(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ort.InferenceSession, dict[str, np.ndarray]]:
    card = load_model_card(REPOSITORY)
    session = ort.InferenceSession(
        str(REPOSITORY / "cmr_video_encoder/1/model.onnx"), providers=["CPUExecutionProvider"]
    )
    out = tmp_path_factory.mktemp("explain-study")
    study = synthesize_study("site_a", 5, 0, "hypertrophic_cardiomyopathy")
    model_input = preprocess_study(load_study(study.write(out)), card.input_spec)
    feeds = {
        "sax": model_input.sax[None].astype(np.float32),
        "lax": model_input.lax[None].astype(np.float32),
        "lax_present": model_input.lax_present[None].astype(np.float32),
    }
    return session, feeds


def test_occluding_a_clip_is_what_the_encoder_does_with_an_absent_view(released) -> None:
    """The released encoder, with its 4-chamber clip masked out as absent, gives the study
    embedding that removing that clip's token from the pool predicts."""
    session, feeds = released
    study, clips = session.run(None, feeds)
    present = np.ones(clips.shape[1], dtype=bool)
    beta = pooling_weights(study[0], clips[0], present)
    predicted = clip_occluded(study[0], clips[0], beta)[-1]
    masked, _ = session.run(None, {**feeds, "lax_present": np.zeros_like(feeds["lax_present"])})
    assert np.allclose(predicted, masked[0], atol=1e-4)
    assert condition_scores(masked, predicted[None], None).shape == (1, 1)
