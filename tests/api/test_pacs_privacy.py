"""Zero PHI in logs and metrics with PACS in the loop: a real gateway process retrieves a study
with unique patient identifiers from the real PACS, answers it as JSON and as a DICOM SR,
stores the SR back, and meets the error paths; its whole log and /metrics are searched."""

import json
import uuid
from pathlib import Path

import httpx
import pytest
from api_helpers import Files, multipart, start_live_server, with_identity, write_study
from pacs_helpers import reference, source_settings, study_uid

from app.deploy.orthanc_server import OrthancProcess

pytestmark = pytest.mark.pacs


def test_no_patient_identifier_in_logs_or_metrics_by_reference(
    orthanc: OrthancProcess, tmp_path: Path
) -> None:
    name, patient_id = f"Qpx{uuid.uuid4().hex[:10]}^Wvz", f"PID{uuid.uuid4().hex[:12]}"
    files: Files = with_identity(write_study(tmp_path, "site_a", 777, "normal"), name, patient_id)
    orthanc.upload([data for _, data in files])
    uid = study_uid(files)
    env = {"backend": "embedded", "dicomweb_sources": json.dumps(source_settings(orthanc))}
    server = start_live_server(tmp_path / "gateway.log", env)
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as http:
            ok = http.post("/v1/diagnose", json=reference(uid, mode="findings", store=True))
            assert ok.status_code == 200, ok.text
            sr = http.post(
                "/v1/diagnose", json=reference(uid), headers={"Accept": "application/dicom"}
            )
            assert sr.status_code == 200
            assert patient_id.encode() in sr.content  # the SR names its patient, as it must
            assert http.post("/v1/report", json=reference(uid)).status_code == 200
            missing = http.post("/v1/diagnose", json=reference("1.2.3.4.5.6.7.8.9"))
            assert missing.status_code == 404
            unknown = http.post("/v1/diagnose", json=reference(uid, "elsewhere"))
            assert unknown.status_code == 422
            upload = http.post(
                "/v1/diagnose", files=multipart(files), headers={"Accept": "application/dicom"}
            )
            assert upload.status_code == 200
            metrics = http.get("/metrics").text
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)
    log = server.log()
    assert ok.json()["request_id"] in log  # the requests were logged at all
    secrets = (name, name.split("^")[0], patient_id, "19700101", uid, orthanc.password)
    for secret in secrets:
        assert secret not in log
        assert secret not in metrics
