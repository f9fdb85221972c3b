"""A Triton outage mid-run: the gateway answers 503 `backend_unavailable` (liveness stays up),
and recovers by itself once Triton is back, without a restart."""

import time

import pytest
from api_helpers import Files, make_client, multipart

from app.deploy.triton_server import TritonProcess


@pytest.mark.triton
def test_triton_stopped_mid_run_gives_503_and_recovers(
    triton_server: TritonProcess, study_files: Files
) -> None:
    settings = {"backend": "triton", "triton_url": triton_server.grpc_url}
    with make_client(settings, backend_retries=1, backend_timeout_s=5) as client:
        assert client.post("/v1/embed/study", files=multipart(study_files)).status_code == 200
        triton_server.stop()
        try:
            down = client.post("/v1/embed/study", files=multipart(study_files))
            assert down.status_code == 503, down.text
            assert down.json()["code"] == "backend_unavailable"
            text_down = client.post("/v1/embed/text", json={"texts": ["a brand new phrase"]})
            assert text_down.status_code == 503
            assert client.get("/healthz").status_code == 200  # liveness never needs Triton
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["code"] == "not_ready"
            metrics = client.get("/metrics").text
            assert (
                'cmr_backend_errors_total{backend="triton",kind="backend_unavailable"}' in metrics
            )
        finally:
            triton_server.start()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the gateway did not recover"
            time.sleep(0.5)
        assert client.post("/v1/embed/study", files=multipart(study_files)).status_code == 200
