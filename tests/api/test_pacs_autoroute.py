"""Auto-routing end to end: a scanner sends a cine study to Orthanc over DICOM (C-STORE,
pynetdicom); Orthanc's Lua script (app/deploy/orthanc/autoroute.lua) posts it to the gateway
by reference once the study is stable; the gateway retrieves it over DICOMweb and stores its
DICOM SR back into the study; once the SR is there, the study is not sent again."""

import io
import json
import time
from pathlib import Path

import httpx
import pydicom
import pytest
from api_helpers import start_live_server, write_study
from pacs_helpers import require_orthanc, study_uid
from pynetdicom import AE, StoragePresentationContexts

from app.deploy.orthanc_server import AE_TITLE, GatewayRoute, OrthancProcess

pytestmark = pytest.mark.pacs


def _c_store(port: int, files: list[bytes]) -> None:
    ae = AE(ae_title="CMRSCANNER")
    ae.requested_contexts = StoragePresentationContexts
    association = ae.associate("127.0.0.1", port, ae_title=AE_TITLE)
    assert association.is_established
    try:
        for data in files:
            status = association.send_c_store(pydicom.dcmread(io.BytesIO(data)))
            assert status.Status == 0x0000
    finally:
        association.release()


def _sr_series(orthanc: OrthancProcess, uid: str) -> list[dict]:
    series = httpx.get(
        f"{orthanc.dicomweb_url}/studies/{uid}/series", auth=orthanc.auth, timeout=30
    ).json()
    return [s for s in series if s["00080060"]["Value"] == ["SR"]]


def test_a_study_sent_to_orthanc_comes_back_with_its_report(tmp_path: Path) -> None:
    require_orthanc()
    files = write_study(tmp_path / "study", "site_a", 818, "dilated_cardiomyopathy")
    uid = study_uid(files)
    orthanc = OrthancProcess(workdir=tmp_path / "orthanc")
    source = {"url": orthanc.dicomweb_url, "username": orthanc.username}
    source["password"] = orthanc.password
    env = {"backend": "embedded", "dicomweb_sources": json.dumps({"orthanc": source})}
    gateway = start_live_server(tmp_path / "gateway.log", env)
    orthanc.gateway = GatewayRoute(gateway.url, gateway.api_key, stable_age_s=2)
    try:
        with orthanc:
            _c_store(orthanc.dicom_port, [data for _, data in files])
            deadline = time.monotonic() + 300
            while not _sr_series(orthanc, uid) and time.monotonic() < deadline:
                time.sleep(1)
            reports = _sr_series(orthanc, uid)
            assert len(reports) == 1, orthanc.log_tail()
            time.sleep(6)  # the stored SR settles: the study is stable again, and done
            assert len(_sr_series(orthanc, uid)) == 1
            log = orthanc.log_tail(400)
    finally:
        gateway.process.terminate()
        gateway.process.wait(timeout=10)
    assert "AI result" in reports[0]["0008103E"]["Value"][0]
    assert log.count("diagnosed, its report stored") == 1
    requests = [json.loads(line) for line in gateway.log().splitlines() if line.startswith("{")]
    # the access log's lines; the audit trail (stdout here) names the route too, with an action
    diagnoses = [r for r in requests if r.get("route") == "/v1/diagnose" and "action" not in r]
    assert [r["status"] for r in diagnoses] == [200]  # once, by the script
    audited = [r for r in requests if r.get("route") == "/v1/diagnose" and "action" in r]
    assert [r["action"] for r in audited] == ["execute"]  # the reference path is audited
