"""Auth, saturation, metrics, and privacy of logs and metrics, on both backends."""

import gc
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from api_helpers import Files, LiveServer, make_client, multipart, with_identity
from fastapi.testclient import TestClient

from app.api.security import key_digest


def test_api_keys_when_configured(backend_settings: dict[str, str]) -> None:
    keys = [key_digest("first-key"), key_digest("second-key")]
    with make_client(backend_settings, api_keys_sha256=keys) as client:
        missing = client.get("/v1/condition-sets")
        assert missing.status_code == 401
        assert missing.json()["code"] == "unauthorized"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = client.get("/v1/model", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        bearer = client.get("/v1/model", headers={"Authorization": "Bearer first-key"})
        assert bearer.status_code == 200
        header = client.get("/v1/model", headers={"X-API-Key": "second-key"})
        assert header.status_code == 200
        for open_path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            assert client.get(open_path).status_code == 200, open_path


def test_open_without_keys(client: TestClient) -> None:
    assert client.get("/v1/model").status_code == 200


def test_saturation_gives_503_with_retry_after(
    backend_settings: dict[str, str], study_files: Files
) -> None:
    with make_client(backend_settings, max_concurrent_inferences=1, max_queue_wait_s=0) as client:
        with ThreadPoolExecutor(6) as pool:
            responses = list(
                pool.map(
                    lambda _: client.post("/v1/embed/study", files=multipart(study_files)),
                    range(6),
                )
            )
        statuses = sorted(r.status_code for r in responses)
        assert 200 in statuses and 503 in statuses, statuses
        assert set(statuses) <= {200, 503}
        refused = next(r for r in responses if r.status_code == 503)
        assert refused.json()["code"] == "overloaded"
        assert int(refused.headers["retry-after"]) >= 1
        metrics = client.get("/metrics").text
        assert 'cmr_errors_total{code="overloaded"}' in metrics
        assert client.post("/v1/embed/study", files=multipart(study_files)).status_code == 200


def test_metrics_cover_routes_stages_and_model(client: TestClient, study_files: Files) -> None:
    client.post("/v1/diagnose", files=multipart(study_files))
    client.post("/v1/diagnose", files=[("files", ("a.txt", b"hello"))])
    text = client.get("/metrics").text
    assert 'cmr_http_requests_total{method="POST",route="/v1/diagnose",status="200"}' in text
    assert 'cmr_http_requests_total{method="POST",route="/v1/diagnose",status="415"}' in text
    assert 'cmr_errors_total{code="not_dicom"}' in text
    for stage in ("parse", "preprocess", "encode_video", "encode_text", "score"):
        assert f'cmr_stage_duration_seconds_count{{stage="{stage}"}}' in text
    assert 'cmr_upload_bytes_count{route="/v1/diagnose"}' in text
    assert "cmr_http_requests_in_flight" in text
    assert "cmr_inference_slots_busy 0.0" in text
    assert 'cmr_model_info{backend="' in text


def test_no_patient_identifier_in_logs_or_metrics(
    live_server: LiveServer, study_files: Files
) -> None:
    """A real server process: its whole log output and /metrics are searched."""
    name, patient_id = f"Zyx{uuid.uuid4().hex[:10]}^Qwv", f"PID{uuid.uuid4().hex[:12]}"
    files = with_identity(study_files, name, patient_id)
    with httpx.Client(base_url=live_server.url, headers=live_server.headers, timeout=60) as http:
        ok = http.post("/v1/diagnose", files=multipart(files))
        assert ok.status_code == 200, ok.text
        broken = [(n, d[:-5000]) for n, d in files]  # truncated pixels -> an error path too
        assert http.post("/v1/diagnose", files=multipart(broken)).status_code in (415, 422)
        metrics = http.get("/metrics").text
    log = live_server.log()
    assert ok.json()["request_id"] in log  # the request was logged at all
    for secret in (name, name.split("^")[0], patient_id, "19700101"):
        assert secret not in log
        assert secret not in metrics


def test_the_gil_switch_interval_is_set_while_serving_and_restored_after() -> None:
    before = sys.getswitchinterval()
    with make_client({"backend": "embedded"}, gil_switch_interval_ms=2.5):
        assert sys.getswitchinterval() == pytest.approx(0.0025)
    assert sys.getswitchinterval() == before


def test_startup_objects_are_frozen_out_of_the_collector() -> None:
    gc.unfreeze()
    with make_client({"backend": "embedded"}):
        assert gc.get_freeze_count() > 0
