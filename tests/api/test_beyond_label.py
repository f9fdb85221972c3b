"""Beyond a label, on both backends: explain=true (which clips and phases drove each score, and
a PNG), measure=true (LVEF and volumes with intervals), and few-shot prototypes registered
through /v1/prototypes and scored by /v1/diagnose."""

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from api_helpers import Files, make_client, multipart
from fastapi.testclient import TestClient
from PIL import Image

from app.zeroshot.explain import PHASE_WINDOWS


@pytest.fixture(scope="module")
def prototype_client(
    backend_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("prototypes")
    with make_client(backend_settings, prototype_dir=folder, archive_path=None) as client:
        yield client


def test_explanation_weighs_every_clip_and_phase_window(
    client: TestClient, study_files: Files
) -> None:
    response = client.post(
        "/v1/diagnose", files=multipart(study_files), data={"mode": "findings", "explain": "true"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    explanation = body["explanation"]
    card = client.app.state.pipeline.card
    clips = explanation["clips"]
    sax = [c for c in clips if c["view"] == "sax"]
    assert [c["slice_index"] for c in sax] == list(range(card.input_spec.sax_slices))
    assert sax[0]["level"] == "basal" and sax[-1]["level"] == "apical"
    assert [c["view"] for c in clips if c["view"] != "sax"] == ["4ch"]
    assert [w["name"] for w in explanation["phase_windows"]] == list(PHASE_WINDOWS)
    assert [c["label"] for c in explanation["conditions"]] == [
        c["label"] for c in body["conditions"]
    ]
    for condition in explanation["conditions"]:
        assert len(condition["clip_weights"]) == len(clips)
        assert abs(sum(abs(w) for w in condition["clip_weights"]) - 1) < 1e-6
        assert abs(sum(abs(w) for w in condition["phase_weights"]) - 1) < 1e-6
        assert len(condition["driving_clips"]) <= 2
        for index in condition["driving_clips"]:
            assert condition["clip_weights"][index] > 0
        if any(clips[i]["view"] == "sax" for i in condition["driving_clips"]):
            assert "short-axis slice" in condition["in_words"]
    image = Image.open(io.BytesIO(base64.b64decode(explanation["image_png_base64"])))
    assert image.format == "PNG" and image.width > image.height > 200
    assert body["timings_ms"]["explain"] > 0
    assert body["measurements"] is None


def test_explanation_is_off_unless_asked_and_the_flag_is_checked(
    client: TestClient, study_files: Files
) -> None:
    body = client.post("/v1/diagnose", files=multipart(study_files)).json()
    assert body["explanation"] is None and body["timings_ms"]["explain"] is None
    bad = client.post("/v1/diagnose", files=multipart(study_files), data={"explain": "maybe"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_upload"


def test_measurements_carry_units_intervals_and_words(
    client: TestClient, study_files: Files
) -> None:
    response = client.post("/v1/diagnose", files=multipart(study_files), data={"measure": "1"})
    assert response.status_code == 200, response.text
    measurements = {m["name"]: m for m in response.json()["measurements"]}
    card = client.app.state.pipeline.card
    assert set(measurements) == set(card.calibration.measurements) >= {"lvef_pct"}
    lvef = measurements["lvef_pct"]
    assert lvef["unit"] == "%" and lvef["coverage"] == 0.9
    assert lvef["lower"] < lvef["value"] < lvef["upper"]
    half = card.calibration.measurements["lvef_pct"].half_width
    assert lvef["upper"] - lvef["lower"] == pytest.approx(2 * half, abs=0.11)
    assert lvef["grade"]


def _study_embedding(client: TestClient, files: Files) -> list[float]:
    response = client.post("/v1/embed/study", files=multipart(files))
    assert response.status_code == 200, response.text
    return response.json()["embedding"]


def test_a_prototype_is_registered_listed_and_scored_in_findings_mode(
    prototype_client: TestClient, study_files: Files
) -> None:
    client = prototype_client
    embedding = np.array(_study_embedding(client, study_files))
    rng = np.random.default_rng(0)
    negatives = rng.normal(size=(4, len(embedding)))
    negatives -= np.outer(negatives @ embedding, embedding)  # orthogonal to the study
    positives = embedding + 0.05 * rng.normal(size=(4, len(embedding)))
    body = {
        "name": "site-test-v1",
        "label": "test label",
        "embeddings": positives.tolist(),
        "negative_embeddings": negatives.tolist(),
    }
    created = client.post("/v1/prototypes", json=body)
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["k_positive"] == 4 and info["calibration"] == "platt"
    assert info["model"]["version"] == client.app.state.pipeline.card.version
    again = client.post("/v1/prototypes", json=body)
    assert again.status_code == 409 and again.json()["code"] == "prototype_exists"
    listed = client.get("/v1/prototypes").json()["prototypes"]
    assert [p["name"] for p in listed] == ["site-test-v1"]
    assert client.get("/v1/prototypes/site-test-v1").json() == info
    conditions = [
        {"label": "test label", "prototype": "site-test-v1"},
        {
            "label": "pericardial effusion",
            "prompts": ["large pericardial effusion"],
            "negative_prompts": ["no pericardial effusion"],
            "prototype": "site-test-v1",
        },
    ]
    response = client.post(
        "/v1/diagnose",
        files=multipart(study_files),
        data={"conditions": json.dumps(conditions), "mode": "findings", "explain": "true"},
    )
    assert response.status_code == 200, response.text
    scores = {c["label"]: c for c in response.json()["conditions"]}
    assert scores["test label"]["probability"] > 0.5
    assert scores["test label"]["calibration"] == "platt"
    assert scores["pericardial effusion"]["calibration"] == "none"


@pytest.mark.parametrize(
    ("conditions", "mode", "status", "code"),
    [
        ([{"label": "x", "prototype": "nobody"}], "findings", 404, "unknown_prototype"),
        (
            [{"label": "x", "prototype": "nobody"}, {"label": "y", "prompts": ["a"]}],
            "exclusive",
            422,
            "invalid_conditions",
        ),
        ([{"label": "x"}], "findings", 422, "invalid_conditions"),
    ],
)
def test_prototype_conditions_are_checked(
    prototype_client: TestClient,
    study_files: Files,
    conditions: list,
    mode: str,
    status: int,
    code: str,
) -> None:
    response = prototype_client.post(
        "/v1/diagnose",
        files=multipart(study_files),
        data={"conditions": json.dumps(conditions), "mode": mode},
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        {
            "name": "a",
            "label": "x",
            "embeddings": [[1.0, 0.0]],
            "negative_embeddings": [[0.0, 1.0]],
        },
        {"name": "b", "label": "x", "embeddings": [[0.1] * 128]},
        {
            "name": "../c",
            "label": "x",
            "embeddings": [[0.1] * 128],
            "negative_embeddings": [[0.2] * 128],
        },
        {"name": "d", "label": "x", "study_keys": ["k"], "negative_embeddings": [[0.2] * 128]},
    ],
)
def test_bad_prototypes_are_refused(prototype_client: TestClient, body: dict) -> None:
    response = prototype_client.post("/v1/prototypes", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] in ("invalid_prototype", "validation_error")
