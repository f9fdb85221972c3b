"""Model card, condition sets, health, readiness and embeddings on both backends."""

import numpy as np
from api_helpers import Files, multipart
from fastapi.testclient import TestClient

from app.model_card import ModelCard
from app.zeroshot.condition_sets import load_condition_sets, prompt_set_hash


def test_model_card_is_served_and_validates(client: TestClient) -> None:
    card = ModelCard.model_validate(client.get("/v1/model").json())
    assert "not for diagnostic use" in card.intended_use


def test_condition_sets_are_the_shipped_yaml(client: TestClient) -> None:
    listed = client.get("/v1/condition-sets").json()["condition_sets"]
    shipped = load_condition_sets()
    assert {s["name"]: s["sha256"] for s in listed} == {
        name: prompt_set_hash(s) for name, s in shipped.items()
    }
    one = client.get("/v1/condition-sets/cardiac_findings_v1").json()
    assert one == shipped["cardiac_findings_v1"].model_dump(mode="json")
    missing = client.get("/v1/condition-sets/no_such_set")
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_condition_set"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["backend"] in ("embedded", "triton")


def test_text_embeddings_are_unit_vectors(client: TestClient) -> None:
    texts = ["dilated left ventricle.", "Normal study. No effusion.", "", "x" * 300]
    body = client.post("/v1/embed/text", json={"texts": texts}).json()
    vectors = np.array(body["embeddings"])
    assert vectors.shape == (len(texts), body["dimensions"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    again = client.post("/v1/embed/text", json={"texts": texts[:1]}).json()
    assert np.allclose(again["embeddings"][0], vectors[0], atol=1e-5)  # batch-independent


def test_study_embedding_and_clips(client: TestClient, study_files: Files) -> None:
    body = client.post("/v1/embed/study", files=multipart(study_files)).json()
    study = np.array(body["embedding"])
    clips = np.array(body["clip_embeddings"])
    assert study.shape == (body["dimensions"],)
    assert np.isclose(np.linalg.norm(study), 1, atol=1e-5)
    assert clips.shape == (9, body["dimensions"])  # 8 SAX slices + the 4-chamber view
    assert np.allclose(np.linalg.norm(clips, axis=1), 1, atol=1e-5)
