"""POST /v1/jobs and GET /v1/jobs/{id} in one gateway: 202 + Location, the same result as the
synchronous routes, the upload deleted once run, jobs private to their API key, requests refused
before queueing, a bounded queue, and webhooks: signed, allow-listed, never redirected. Real
small HTTP servers stand in for the FHIR server and the webhook receivers."""

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import Files, make_client, multipart
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from job_helpers import no_uploads_left, wait_for_job
from recorder import Recorder, fhir_server_answer, recording_server

from app.api.security import key_digest
from app.jobs.webhook import SIGNATURE_HEADER

KEY, OTHER_KEY = "job-key-1", "job-key-2"
AUTH = {"Authorization": f"Bearer {KEY}"}
WEBHOOK_SECRET = "webhook-secret"
MAX_QUEUED = 2


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Recorder]]:
    """A FHIR server, a webhook receiver, a redirector (both allow-listed) and a host that is
    not allow-listed (the redirect's target)."""
    with (
        recording_server() as fhir,
        recording_server() as receiver,
        recording_server() as redirector,
        recording_server() as elsewhere,
    ):
        fhir.answer = fhir_server_answer
        redirector.answer = lambda _: (307, {"Location": elsewhere.url + "/hook"}, b"")
        yield {"fhir": fhir, "receiver": receiver, "redirector": redirector, "elsewhere": elsewhere}


@pytest.fixture(scope="module")
def jobs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="module")
def jobs_client(servers: dict[str, Recorder], jobs_dir: Path) -> Iterator[TestClient]:
    allowed = [servers[name].url.removeprefix("http://") for name in ("receiver", "redirector")]
    with make_client(
        {"backend": "embedded"},
        api_keys_sha256=[key_digest(KEY), key_digest(OTHER_KEY)],
        jobs_dir=jobs_dir,
        jobs_max_queued=MAX_QUEUED,
        jobs_webhook_hosts=allowed,
        jobs_webhook_secret=WEBHOOK_SECRET,
        fhir_server_url=servers["fhir"].url,
    ) as client:
        yield client


def submit(client: TestClient, files: Files, **fields: str) -> dict:
    response = client.post("/v1/jobs", files=multipart(files), data=fields, headers=AUTH)
    assert response.status_code == 202, response.text
    view = response.json()
    assert response.headers["Location"] == view["location"] == f"/v1/jobs/{view['id']}"
    assert view["state"] == "queued" and view["attempts"] == 0
    return view


def finished(client: TestClient, view: dict) -> dict:
    return wait_for_job(lambda url: client.get(url, headers=AUTH), view["location"])


def test_a_diagnose_job_answers_what_the_route_answers(
    jobs_client: TestClient, study_files: Files, jobs_dir: Path
) -> None:
    view = finished(jobs_client, submit(jobs_client, study_files, task="diagnose"))
    assert view["state"] == "succeeded" and view["attempts"] == 1, view
    assert view["result_media_type"] == "application/json"
    direct = jobs_client.post("/v1/diagnose", files=multipart(study_files), headers=AUTH).json()
    ran = view["result"]
    assert ran["request_id"] == view["id"]
    assert ran["study"] == direct["study"] and ran["prompt_set"] == direct["prompt_set"]
    by_label = {c["label"]: c["probability"] for c in direct["conditions"]}
    for condition in ran["conditions"]:
        assert condition["probability"] == pytest.approx(by_label[condition["label"]], abs=1e-5)
    assert no_uploads_left(jobs_dir), "the upload outlives its job"


def test_a_report_job_in_fhir_is_a_linked_r4b_bundle(
    jobs_client: TestClient, study_files: Files
) -> None:
    links = json.dumps({"subject": "Patient/p7"})
    view = finished(
        jobs_client, submit(jobs_client, study_files, task="report", format="fhir", fhir=links)
    )
    assert view["state"] == "succeeded", view
    assert view["result_media_type"] == "application/fhir+json"
    bundle = Bundle.model_validate(view["result"])
    report = next(
        e.resource for e in bundle.entry if e.resource.__resource_type__ == "DiagnosticReport"
    )
    assert report.subject.reference == "Patient/p7"


def test_a_job_that_fails_keeps_its_problem(jobs_client: TestClient) -> None:
    view = finished(
        jobs_client, submit(jobs_client, [("a.dcm", b"not a DICOM file")], task="diagnose")
    )
    assert view["state"] == "failed" and view["result"] is None
    assert view["error"]["code"] == "not_dicom" and view["error"]["status"] == 415


def test_jobs_are_private_to_their_api_key(jobs_client: TestClient, study_files: Files) -> None:
    view = submit(jobs_client, study_files, task="diagnose")
    other = jobs_client.get(view["location"], headers={"Authorization": f"Bearer {OTHER_KEY}"})
    assert other.status_code == 404 and other.json()["code"] == "job_not_found"
    assert jobs_client.get(view["location"]).status_code == 401
    assert jobs_client.get("/v1/jobs/" + "0" * 32, headers=AUTH).status_code == 404
    assert jobs_client.get("/v1/jobs/../etc", headers=AUTH).status_code == 404
    finished(jobs_client, view)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({}, "invalid_job"),
        ({"task": "train"}, "invalid_job"),
        ({"task": "diagnose", "conditions": "[{"}, "invalid_conditions"),
        ({"task": "report", "format": "xml"}, "invalid_job"),
        ({"task": "report", "fhir": '{"subject": "x"}'}, "invalid_fhir_links"),
    ],
)
def test_bad_requests_are_refused_before_queueing(
    jobs_client: TestClient, study_files: Files, jobs_dir: Path, fields: dict, code: str
) -> None:
    response = jobs_client.post("/v1/jobs", files=multipart(study_files), data=fields, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert no_uploads_left(jobs_dir)


def test_a_full_queue_answers_503_with_retry_after(
    jobs_client: TestClient, servers: dict[str, Recorder], study_files: Files
) -> None:
    fhir = servers["fhir"]
    fhir.open.clear()  # the FHIR server hangs: the first job stays running
    try:
        posted = len(fhir.received)
        running = submit(jobs_client, study_files, task="report", fhir_submit="true")
        fhir.wait_for(posted + 1)
        queued = submit(jobs_client, study_files, task="diagnose")
        refused = jobs_client.post(
            "/v1/jobs", files=multipart(study_files), data={"task": "diagnose"}, headers=AUTH
        )
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "overloaded"
        assert int(refused.headers["Retry-After"]) >= 1
    finally:
        fhir.open.set()
    for view in (running, queued):
        assert finished(jobs_client, view)["state"] == "succeeded"
    assert finished(jobs_client, running)["result"]["type"] == "transaction-response"


def test_the_webhook_is_called_with_a_signed_body(
    jobs_client: TestClient, servers: dict[str, Recorder], study_files: Files
) -> None:
    receiver = servers["receiver"]
    before = len(receiver.received)
    view = submit(jobs_client, study_files, task="diagnose", webhook_url=receiver.url + "/hook?x=1")
    finished(jobs_client, view)
    call = receiver.wait_for(before + 1)[before]
    assert call.method == "POST" and call.path == "/hook?x=1"
    timestamp, mac = (part.split("=", 1)[1] for part in call.headers[SIGNATURE_HEADER].split(","))
    assert abs(time.time() - int(timestamp)) < 120
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + call.body, hashlib.sha256
    )
    assert hmac.compare_digest(mac, expected.hexdigest())
    sent = call.json()
    assert sent["id"] == view["id"] and sent["state"] == "succeeded" and sent["result"]
    final = wait_for_job(
        lambda url: jobs_client.get(url, headers=AUTH), view["location"], timeout_s=10
    )
    deadline = time.monotonic() + 10
    while final["webhook"] == "pending" and time.monotonic() < deadline:
        final = jobs_client.get(view["location"], headers=AUTH).json()
    assert final["webhook"] == "delivered"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:1/hook",
        "http://localhost/hook",
        "file:///etc/passwd",
        "gopher://{receiver}/",
        "http://{receiver}@evil.example/hook",
        "http://{receiver}.evil.example/hook",
        "https://{receiver_host}:8443/hook",
        "not a url",
    ],
)
def test_webhooks_to_hosts_off_the_allow_list_are_refused(
    jobs_client: TestClient, servers: dict[str, Recorder], study_files: Files, url: str
) -> None:
    receiver = servers["receiver"].url.removeprefix("http://")
    url = url.format(receiver=receiver, receiver_host=receiver.split(":")[0])
    response = jobs_client.post(
        "/v1/jobs",
        files=multipart(study_files),
        data={"task": "diagnose", "webhook_url": url},
        headers=AUTH,
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "webhook_not_allowed"
    assert url not in response.text


def test_a_redirecting_webhook_is_not_followed(
    jobs_client: TestClient, servers: dict[str, Recorder], study_files: Files
) -> None:
    redirector, elsewhere = servers["redirector"], servers["elsewhere"]
    before = len(redirector.received)
    view = submit(jobs_client, study_files, task="diagnose", webhook_url=redirector.url + "/hook")
    finished(jobs_client, view)
    redirector.wait_for(before + 3)  # every attempt answered 307 ...
    deadline = time.monotonic() + 20
    state = "pending"
    while state == "pending" and time.monotonic() < deadline:
        state = jobs_client.get(view["location"], headers=AUTH).json()["webhook"]
        time.sleep(0.1)
    assert state == "failed"
    assert not elsewhere.received  # ... and its target never called
