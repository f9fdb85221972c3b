"""The model repository in git is consistent: card, hashes, ONNX graphs and Triton configs."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app.inference.model_config import read_model_config
from app.model_card import load_model_card, sha256_file

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


@pytest.fixture(scope="module")
def card():
    if not (REPOSITORY / "model_card.json").exists():
        pytest.skip("no released model in model_repository/")
    return load_model_card(REPOSITORY)


def test_card_hashes_match_the_files(card):
    assert card.files
    for path, digest in card.files.items():
        assert sha256_file(REPOSITORY / path) == digest, path


@pytest.mark.parametrize("model", ["cmr_video_encoder", "cmr_text_encoder"])
def test_triton_config_names_the_onnx_tensors(card, model):
    session = ort.InferenceSession(str(REPOSITORY / model / "1" / "model.onnx"))
    config = read_model_config(REPOSITORY / model / "config.pbtxt")
    declared = {t.name for t in config.input} | {t.name for t in config.output}
    graph = {t.name for t in session.get_inputs()} | {t.name for t in session.get_outputs()}
    assert declared == graph


def test_video_encoder_runs_on_the_card_input_spec(card):
    spec = card.input_spec
    session = ort.InferenceSession(str(REPOSITORY / "cmr_video_encoder" / "1" / "model.onnx"))
    sax = np.zeros((2, spec.sax_slices, spec.frames, spec.crop_px, spec.crop_px), np.float32)
    lax = np.zeros((2, len(spec.lax_views), spec.frames, spec.crop_px, spec.crop_px), np.float32)
    present = np.zeros((2, len(spec.lax_views)), np.float32)
    study, clips = session.run(None, {"sax": sax, "lax": lax, "lax_present": present})
    assert study.shape == (2, card.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(study, axis=1), 1.0, atol=1e-5)
    assert clips.shape == (2, spec.sax_slices + len(spec.lax_views), card.embed_dim)
