"""POST /v1/diagnose on both backends: the contract, modes, custom prompts, zip uploads."""

import io
import json

import numpy as np
import pydicom
from api_helpers import Files, multipart, zipped
from fastapi.testclient import TestClient

from app.domain.vocabulary import PRIMARY_DIAGNOSES
from app.model_card import load_model_card
from app.zeroshot.condition_sets import load_condition_sets, prompt_set_hash

CARD = load_model_card(__import__("api_helpers").PROJECT_ROOT / "model_repository")


def test_diagnosis_follows_the_contract(client: TestClient, study_files: Files) -> None:
    response = client.post("/v1/diagnose", files=multipart(study_files))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["model"] == {
        "name": CARD.name,
        "version": CARD.version,
        "sha256": CARD.weights_sha256,
    }
    assert "not for diagnostic use" in body["intended_use"]
    shipped = load_condition_sets()["cardiac_diagnosis_v1"]
    assert body["prompt_set"] == {"name": shipped.name, "sha256": prompt_set_hash(shipped)}
    assert body["mode"] == "exclusive"
    study = body["study"]
    assert study["views"] == ["sax", "4ch"]
    assert study["slices"] >= 8 and study["phases"] >= 16
    assert study["files"] == len(study_files)
    conditions = body["conditions"]
    assert sorted(c["label"] for c in conditions) == sorted(PRIMARY_DIAGNOSES)
    probabilities = [c["probability"] for c in conditions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert abs(sum(probabilities) - 1) < 1e-5
    assert [c["rank"] for c in conditions] == list(range(1, len(conditions) + 1))
    assert all(-1.001 <= c["similarity"] <= 1.001 for c in conditions)
    timed = {stage for stage, ms in body["timings_ms"].items() if ms is not None}
    assert timed == {"receive", "parse", "preprocess", "encode", "score"}


def test_findings_mode_scores_each_finding_against_its_threshold(
    client: TestClient, study_files: Files
) -> None:
    response = client.post("/v1/diagnose", files=multipart(study_files), data={"mode": "findings"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "findings"
    assert body["prompt_set"]["name"] == "cardiac_findings_v1"
    for condition in body["conditions"]:
        assert 0 <= condition["probability"] <= 1
        assert condition["threshold"] == 0.5
        assert condition["present"] == (condition["probability"] >= 0.5)
        fitted = condition["label"] in CARD.calibration.findings
        assert condition["calibration"] == ("platt" if fitted else "none")
    assert CARD.calibration.findings  # the shipped findings are calibrated


def test_custom_prompts_rank_the_callers_labels(client: TestClient, study_files: Files) -> None:
    conditions = [
        {
            "label": "dilated LV",
            "prompts": ["dilated left ventricle with severely reduced ejection fraction"],
            "negative_prompts": ["normal left ventricular size and function"],
        },
        {
            "label": "pericardial effusion",
            "prompts": ["large pericardial effusion"],
            "negative_prompts": ["no pericardial effusion"],
        },
    ]
    for mode in ("exclusive", "findings"):
        response = client.post(
            "/v1/diagnose",
            files=multipart(study_files),
            data={"conditions": json.dumps(conditions), "mode": mode},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["mode"] == mode
        assert body["prompt_set"]["name"] == "custom"
        assert {c["label"] for c in body["conditions"]} == {"dilated LV", "pericardial effusion"}
        # custom prompts are never calibrated, and the response says so
        assert all(c["calibration"] == "none" for c in body["conditions"])
        if mode == "findings":
            for c in body["conditions"]:
                assert c["threshold"] == 0.5 and c["present"] == (c["probability"] >= 0.5)
        else:
            assert all(c["threshold"] is None for c in body["conditions"])
            assert np.isclose(sum(c["probability"] for c in body["conditions"]), 1.0, atol=1e-5)


def test_a_zip_of_the_study_scores_as_its_files(client: TestClient, study_files: Files) -> None:
    as_files = client.post("/v1/diagnose", files=multipart(study_files)).json()
    as_zip = client.post(
        "/v1/diagnose", files=[("files", ("study.zip", zipped(study_files), "application/zip"))]
    ).json()
    by_label = {c["label"]: c["probability"] for c in as_files["conditions"]}
    for condition in as_zip["conditions"]:
        assert np.isclose(condition["probability"], by_label[condition["label"]], atol=1e-5)


def test_request_ids_are_echoed_or_made(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "ehr-42"}).headers["x-request-id"] == (
        "ehr-42"
    )
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "a b\tc"}).headers["x-request-id"]
    assert unsafe != "a b\tc"


def test_every_response_names_the_model(client: TestClient) -> None:
    response = client.get("/v1/condition-sets")
    assert response.headers["x-model-version"] == CARD.version
    assert response.headers["x-model-name"] == CARD.name
    assert response.headers["x-model-sha256"] == CARD.weights_sha256


def _key_frames(files: Files) -> Files:
    """Only end-diastole (the first trigger time) and end-systole (the one nearest a third of
    the last) of every clip, as an archive that keeps key frames gives a study. Each slice has
    its own trigger times (its own breath-hold), so they are chosen clip by clip."""
    clips: dict[tuple, list[tuple[float, str, bytes]]] = {}
    for name, data in files:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        key = (ds.SeriesInstanceUID, tuple(float(v) for v in ds.ImagePositionPatient))
        clips.setdefault(key, []).append((float(ds.TriggerTime), name, data))
    kept: Files = []
    for frames in clips.values():
        frames.sort()
        systole = min(frames, key=lambda f: abs(f[0] - frames[-1][0] / 3))
        kept += [(name, data) for _, name, data in (frames[0], systole)]
    return kept


def test_a_key_frame_study_is_diagnosed_with_a_warning(
    client: TestClient, study_files: Files
) -> None:
    key_frames = _key_frames(study_files)
    assert 0 < len(key_frames) < len(study_files) // 4
    response = client.post("/v1/diagnose", files=multipart(key_frames))
    assert response.status_code == 200, response.text
    study = response.json()["study"]
    assert study["phases"] == 2 and study["slices"] >= 8 and "sax" in study["views"]
    assert any(w.startswith("key frames only") for w in study["warnings"])


def test_a_single_plane_of_key_frames_is_refused_with_a_code(
    client: TestClient, study_files: Files
) -> None:
    first = pydicom.dcmread(io.BytesIO(study_files[0][1]), stop_before_pixels=True)
    plane = [
        (name, data)
        for name, data in study_files
        if pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).ImagePositionPatient
        == first.ImagePositionPatient
    ][:5]
    response = client.post("/v1/diagnose", files=multipart(plane))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "no_cine_series"
