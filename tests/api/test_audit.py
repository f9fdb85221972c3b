"""The audit trail: one append-only record per request that touches a study, naming the caller
by key id, the study by a keyed hash and the result by its sha256; nothing else leaves one; no
patient identifier, UID or key is ever in it, nor in the operational log or the metrics of a
real gateway that ran the upload, report (linked FHIR) and job paths."""

import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from api_helpers import Files, make_client, multipart, start_live_server
from fastapi.testclient import TestClient
from job_helpers import wait_for_job

from app.api.security import key_digest

KEY = "audit-key"
SALT = "audit-salt"


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def audit_client(
    audit_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with make_client(
        {"backend": "embedded"},
        api_keys_sha256=[key_digest(KEY)],
        audit_log_path=audit_path,
        audit_salt=SALT,
        jobs_dir=tmp_path_factory.mktemp("audit-jobs"),
    ) as client:
        client.headers["X-API-Key"] = KEY
        yield client


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def identifiers(files: Files) -> dict[str, str]:
    """The values that identify the study's patient, order and study, as in its header."""
    header = pydicom.dcmread(io.BytesIO(files[0][1]), stop_before_pixels=True)
    found = {
        name: str(header.get(name, "")).strip()
        for name in ("PatientID", "PatientName", "AccessionNumber", "StudyInstanceUID")
    }
    assert all(found.values()), found  # the synthetic study carries each of them
    return found


def test_a_study_request_leaves_one_record(
    audit_client: TestClient, audit_path: Path, study_files: Files
) -> None:
    before = len(records(audit_path))
    response = audit_client.post("/v1/diagnose", files=multipart(study_files))
    assert response.status_code == 200
    (record,) = records(audit_path)[before:]
    uid = identifiers(study_files)["StudyInstanceUID"]
    assert record == {
        "time": record["time"],
        "request_id": response.headers["x-request-id"],
        "caller": key_digest(KEY)[:16],
        "action": "execute",
        "route": "/v1/diagnose",
        "study": hmac.new(SALT.encode(), uid.encode(), hashlib.sha256).hexdigest(),
        "job_id": None,
        "model_version": response.headers["x-model-version"],
        "status": 200,
        "outcome": "success",
        "result_sha256": hashlib.sha256(response.content).hexdigest(),
    }


def test_a_refused_study_is_audited_with_its_problem_code(
    audit_client: TestClient, audit_path: Path
) -> None:
    before = len(records(audit_path))
    response = audit_client.post("/v1/report", files=multipart([("x.dcm", b"no DICOM here")]))
    assert response.status_code == 415
    (record,) = records(audit_path)[before:]
    assert record["route"] == "/v1/report" and record["outcome"] == "not_dicom"
    assert record["status"] == 415 and record["study"] is None and record["result_sha256"] is None


def test_a_job_is_audited_when_created_read_and_run(
    audit_client: TestClient, audit_path: Path, study_files: Files
) -> None:
    before = len(records(audit_path))
    created = audit_client.post("/v1/jobs", files=multipart(study_files), data={"task": "diagnose"})
    assert created.status_code == 202
    job = created.json()
    view = wait_for_job(audit_client.get, job["location"])
    trail = [r for r in records(audit_path)[before:] if r["job_id"] == job["id"]]
    actions = {(r["action"], r["route"]) for r in trail}
    assert {
        ("create", "/v1/jobs"),
        ("read", "/v1/jobs/{job_id}"),
        ("execute", "job:diagnose"),
    } <= actions
    (run,) = [r for r in trail if r["route"] == "job:diagnose"]
    assert run["result_sha256"] == view["result_sha256"] and run["caller"] == key_digest(KEY)[:16]
    assert len({r["study"] for r in trail}) == 1


def test_requests_that_touch_no_study_leave_none(
    audit_client: TestClient, audit_path: Path
) -> None:
    before = len(records(audit_path))
    assert audit_client.get("/healthz").status_code == 200
    assert audit_client.get("/v1/condition-sets").status_code == 200
    assert (
        audit_client.post("/v1/search", json={"text": "dilated left ventricle"}).status_code == 200
    )
    assert len(records(audit_path)) == before


def test_the_trail_is_append_only_across_restarts(
    audit_path: Path, study_files: Files, tmp_path: Path
) -> None:
    before = audit_path.read_bytes()
    with make_client(
        {"backend": "embedded"}, audit_log_path=audit_path, jobs_dir=tmp_path
    ) as client:
        assert client.post("/v1/diagnose", files=multipart(study_files)).status_code == 200
    after = audit_path.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1
    assert records(audit_path)[-1]["caller"] == "anonymous"


def test_no_identifier_in_the_trail_the_log_or_the_metrics_of_a_real_gateway(
    study_files: Files, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    env = {"backend": "embedded", "audit_log_path": str(audit), "jobs_dir": str(tmp_path / "jobs")}
    server = start_live_server(tmp_path / "gateway.log", env, ready_timeout_s=240)
    try:
        url, headers = server.url, server.headers
        fhir = {**headers, "Accept": "application/fhir+json"}
        for response in (
            httpx.post(
                f"{url}/v1/diagnose", files=multipart(study_files), headers=headers, timeout=120
            ),
            httpx.post(f"{url}/v1/report", files=multipart(study_files), headers=fhir, timeout=120),
            httpx.post(
                f"{url}/v1/jobs",
                files=multipart(study_files),
                data={"task": "report", "format": "fhir"},
                headers=headers,
                timeout=120,
            ),
        ):
            assert response.status_code in (200, 202), response.text
        job = wait_for_job(
            lambda loc: httpx.get(url + loc, headers=headers), response.json()["location"]
        )
        assert job["state"] == "succeeded", job
        # the linked report does carry them (to the caller, as identifiers) ...
        values = identifiers(study_files)
        assert values["PatientID"] in json.dumps(job["result"])
        metrics = httpx.get(f"{url}/metrics").text
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)
    log, trail = server.log(), audit.read_text()
    assert len(trail.splitlines()) >= 4
    assert "result_sha256" not in log  # the trail is not in the operational log
    # ... but no identifier, UID or key is in the log, the trail or the metrics.
    for secret in [*values.values(), server.api_key]:
        for text in (log, trail, metrics):
            assert secret not in text
