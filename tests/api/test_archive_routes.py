"""The case archive end to end: a small archive indexed by the CLI from generated studies, then
phrase search, study search, report drafting (JSON and FHIR), restart and model-version refusal
through the API, on each backend (`backend_settings` is what parametrises `client`)."""

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import Files, make_client, multipart
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from app.archive.__main__ import main as archive_cli
from app.domain.manifest import MANIFEST_NAME, write_manifest
from app.domain.reading import mentioned_conditions
from app.synth.study import generate_study

PRIMARIES = (
    "dilated_cardiomyopathy",
    "hypertrophic_cardiomyopathy",
    "normal",
    "myocardial_infarction",
)


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """(archive file, manifest rows by study key): 4 site_a studies indexed by the CLI."""
    root = tmp_path_factory.mktemp("archive-studies")
    rows = [generate_study("site_a", 77, i, root, primary) for i, primary in enumerate(PRIMARIES)]
    write_manifest(root / MANIFEST_NAME, rows)
    path = root / "archive.sqlite"
    archive_cli(["index", "--manifest", str(root / MANIFEST_NAME), "--archive", str(path)])
    return path, {row["study_id"]: row for row in rows}


@pytest.fixture(scope="module")
def archive_client(
    archived: tuple[Path, dict[str, dict]],
    backend_settings: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    copy = tmp_path_factory.mktemp("archive") / "archive.sqlite"
    shutil.copy(archived[0], copy)
    with make_client(backend_settings, archive_path=copy) as client:
        yield client


def study_of(archived: tuple[Path, dict[str, dict]], key: str) -> Files:
    folder = archived[0].parent / key
    return [
        (p.relative_to(folder).as_posix(), p.read_bytes()) for p in sorted(folder.rglob("*.dcm"))
    ]


def test_phrase_search_returns_archived_studies(
    archive_client: TestClient, archived: tuple[Path, dict[str, dict]]
) -> None:
    response = archive_client.post("/v1/search", json={"text": "dilated cardiomyopathy"})
    assert response.status_code == 200, response.text
    body = response.json()
    rows = archived[1]
    assert sorted(r["study_key"] for r in body["results"]) == sorted(rows)
    similarities = [r["similarity"] for r in body["results"]]
    assert similarities == sorted(similarities, reverse=True)
    for result in body["results"]:
        assert result["impression"] == rows[result["study_key"]]["impression"]
        assert result["site"] == "site_a" and result["date"] is not None
    assert body["model"]["version"] == archive_client.app.state.pipeline.card.version


def test_filters_and_limits(archive_client: TestClient) -> None:
    def search(**body: object) -> dict:
        return archive_client.post("/v1/search", json={"text": "normal study", **body}).json()

    assert search(filters={"site": "site_e"})["results"] == []
    assert search(filters={"date_to": "1999-12-31"})["results"] == []
    assert len(search(top_k=2)["results"]) == 2
    assert search(top_k=1000)["code"] == "invalid_search"
    bad_range = search(filters={"date_from": "2024-02-01", "date_to": "2024-01-01"})
    assert bad_range["code"] == "validation_error"


def test_study_search_excludes_the_study_itself(
    archive_client: TestClient, archived: tuple[Path, dict[str, dict]]
) -> None:
    key = next(iter(archived[1]))
    response = archive_client.post(
        "/v1/search/study",
        files=multipart(study_of(archived, key)),
        data={"filters": json.dumps({"site": "site_a"})},
    )
    assert response.status_code == 200, response.text
    keys = [r["study_key"] for r in response.json()["results"]]
    assert sorted(keys) == sorted(set(archived[1]) - {key})
    bad = archive_client.post(
        "/v1/search/study", files=multipart(study_of(archived, key)), data={"filters": "{"}
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_search"


def test_report_draft_is_traceable_to_findings_and_cited_cases(
    archive_client: TestClient, study_files: Files
) -> None:
    response = archive_client.post("/v1/report", files=multipart(study_files))
    assert response.status_code == 200, response.text
    body = response.json()
    card = archive_client.app.state.pipeline.card
    assert body["disclaimer"] == card.intended_use
    assert {f["label"] for f in body["findings"]} == set(card.calibration.findings)
    present = {f["label"] for f in body["findings"] if f["present"]}
    cases = {case["study_key"]: case for case in body["similar_cases"]}
    assert 0 < len(cases) <= 5
    assert body["draft_impression"] == " ".join(s["text"] for s in body["sentences"])
    for sentence in body["sentences"]:
        if sentence["source"] == "finding":
            assert sentence["label"] is None or sentence["label"] in present
        elif sentence["source"] == "measurement":
            assert "interval" in sentence["text"] and not mentioned_conditions(sentence["text"])
        else:
            assert sentence["quote"] in cases[sentence["study_key"]]["impression"]
            assert mentioned_conditions(sentence["quote"]) <= present
    measured = {m["name"] for m in body["measurements"]}
    assert measured == set(card.calibration.measurements) >= {"lvef_pct"}
    for finding in body["findings"]:
        assert (finding["driving_slices"] is not None) <= finding["present"]
        if finding["driving_slices"]:
            assert finding["driving_slices"] in body["draft_impression"]


def test_report_as_fhir_validates_as_r4b(archive_client: TestClient, study_files: Files) -> None:
    response = archive_client.post(
        "/v1/report", files=multipart(study_files), headers={"Accept": "application/fhir+json"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate_json(response.text)
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
    measured = len(archive_client.app.state.pipeline.card.calibration.measurements)
    assert kinds.count("DiagnosticReport") == 1 and kinds.count("Observation") == 6 + measured
    lvef = next(
        e.resource
        for e in bundle.entry
        if e.resource.get_resource_type() == "Observation"
        and e.resource.code.coding[0].code == "10230-1"
    )
    interval = lvef.component[0].valueRange
    assert interval.low.value < lvef.valueQuantity.value < interval.high.value
    assert lvef.valueQuantity.code == "%"
    report = next(
        e.resource for e in bundle.entry if e.resource.get_resource_type() == "DiagnosticReport"
    )
    assert report.status == "preliminary" and report.conclusion
    device = next(e.resource for e in bundle.entry if e.resource.get_resource_type() == "Device")
    assert device.version[0].value == archive_client.app.state.pipeline.card.version


def test_a_prototype_from_archived_study_keys(
    archive_client: TestClient, archived: tuple[Path, dict[str, dict]], tmp_path: Path
) -> None:
    archive_client.app.state.pipeline.prototypes.folder = tmp_path
    keys = sorted(archived[1])
    response = archive_client.post(
        "/v1/prototypes",
        json={
            "name": "archived-v1",
            "label": "first",
            "study_keys": keys[:1],
            "negative_study_keys": keys[1:],
        },
    )
    assert response.status_code == 201, response.text
    assert (response.json()["k_positive"], response.json()["k_negative"]) == (1, 3)
    assert response.json()["calibration"] == "none"
    missing = archive_client.post(
        "/v1/prototypes",
        json={"name": "x", "label": "x", "study_keys": ["nope"], "negative_study_keys": keys},
    )
    assert missing.status_code == 422 and missing.json()["code"] == "invalid_prototype"


def test_restart_keeps_the_archive(
    archive_client: TestClient, backend_settings: dict[str, str]
) -> None:
    query = {"text": "hypertrophic cardiomyopathy", "top_k": 4}
    before = archive_client.post("/v1/search", json=query).json()["results"]
    path = archive_client.app.state.settings.archive_path
    with make_client(backend_settings, archive_path=path) as restarted:
        assert restarted.post("/v1/search", json=query).json()["results"] == before


def test_another_models_archive_is_refused_and_a_missing_one_unavailable(
    archived: tuple[Path, dict[str, dict]],
    backend_settings: dict[str, str],
    tmp_path: Path,
) -> None:
    foreign = tmp_path / "foreign.sqlite"
    shutil.copy(archived[0], foreign)
    with sqlite3.connect(foreign) as db:
        db.execute("UPDATE meta SET value = 'another-model' WHERE key = 'model_version'")
    with make_client(backend_settings, archive_path=foreign) as client:
        response = client.post("/v1/search", json={"text": "normal study"})
        assert response.status_code == 409 and response.json()["code"] == "archive_model_mismatch"
    with make_client(backend_settings, archive_path=tmp_path / "none.sqlite") as client:
        response = client.post("/v1/search", json={"text": "normal study"})
        assert response.status_code == 503 and response.json()["code"] == "archive_unavailable"
        assert client.get("/v1/condition-sets").status_code == 200  # the rest still serves
