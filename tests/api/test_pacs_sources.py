"""Where the gateway may fetch from: only the DICOMweb sources its operator configured, by
name. URLs in the name, extra fields, redirects from the PACS to another host, an unknown
source, wrong credentials and a source that is down: each a typed problem, and nothing reaches
the other host."""

import pytest
from api_helpers import Files, make_client
from fastapi.testclient import TestClient
from pacs_helpers import SOURCE, recording_server, reference, source_settings, study_uid

from app.deploy.orthanc_server import OrthancProcess
from app.deploy.triton_server import free_port

pytestmark = pytest.mark.pacs
ROUTES = ("/v1/diagnose", "/v1/report", "/v1/search/study")


def test_an_unknown_source_is_refused(pacs_client: TestClient, pacs_files: Files) -> None:
    for route in ROUTES:
        response = pacs_client.post(route, json=reference(study_uid(pacs_files), "elsewhere"))
        assert response.status_code == 422, route
        assert response.json()["code"] == "unknown_dicomweb_source"


def test_urls_and_extra_fields_never_reach_the_network(
    pacs_client: TestClient, pacs_files: Files
) -> None:
    uid = study_uid(pacs_files)
    with recording_server(status=200) as target:
        names = [
            target.url,
            f"{target.url}/dicom-web",
            target.url.removeprefix("http://"),
            f"pacs@{target.url.removeprefix('http://')}",
            "pacs/../../admin",
            "//127.0.0.1",
            "",
        ]
        for name in names:
            response = pacs_client.post("/v1/diagnose", json=reference(uid, name))
            assert response.status_code == 422, name
            assert response.json()["code"] == "validation_error"
            assert name == "" or name not in response.text  # a refused value is not echoed
        smuggled = reference(uid)
        smuggled["study"]["url"] = target.url  # type: ignore[index]
        for body in (smuggled, {**reference(uid), "dicomweb_url": target.url}):
            response = pacs_client.post("/v1/diagnose", json=body)
            assert response.status_code == 422
        bad_uid = pacs_client.post("/v1/diagnose", json=reference(f"{target.url}/studies"))
        assert bad_uid.status_code == 422
    assert target.paths == []


def test_a_redirect_from_the_pacs_is_not_followed() -> None:
    """The source answers 302/307 to another host: the gateway refuses (502), and the other
    host sees nothing, not even the source's credentials."""
    with (
        recording_server(status=200) as other_host,
        recording_server(status=302, location=other_host.url) as found,
        recording_server(status=307, location=other_host.url) as temporary,
    ):
        sources = {
            "found": {"url": f"{found.url}/dicom-web"},
            "temporary": {"url": f"{temporary.url}/dicom-web", "username": "u", "password": "p"},
        }
        with make_client({"backend": "embedded"}, dicomweb_sources=sources) as client:
            for name, redirector in (("found", found), ("temporary", temporary)):
                response = client.post("/v1/diagnose", json=reference("1.2.3.4", name))
                assert response.status_code == 502, response.text
                assert response.json()["code"] == "dicomweb_redirect_refused"
                assert len(redirector.paths) == 1  # the gateway asked its source, once
    assert other_host.paths == []


def test_wrong_credentials_and_a_source_that_is_down(
    orthanc: OrthancProcess, pacs_files: Files
) -> None:
    wrong = source_settings(orthanc)[SOURCE] | {"password": "not-the-password"}
    down = {"url": f"http://127.0.0.1:{free_port()}/dicom-web", "timeout_s": 5}
    sources = {"wrong": wrong, "down": down}
    uid = study_uid(pacs_files)
    with make_client({"backend": "embedded"}, dicomweb_sources=sources) as client:
        refused = client.post("/v1/diagnose", json=reference(uid, "wrong"))
        assert refused.status_code == 502
        assert refused.json()["code"] == "dicomweb_error"
        assert "not-the-password" not in refused.text
        unreachable = client.post("/v1/diagnose", json=reference(uid, "down"))
        assert unreachable.status_code == 502
        assert unreachable.json()["code"] == "dicomweb_unavailable"
        metrics = client.get("/metrics").text
    assert 'cmr_errors_total{code="dicomweb_unavailable"}' in metrics


def test_sources_are_validated_at_start() -> None:
    for sources in (
        {"bad name!": {"url": "http://127.0.0.1/dicom-web"}},
        {"pacs": {"url": "file:///etc/passwd"}},
        {"pacs": {"url": "http://127.0.0.1/x", "username": "only-a-user"}},
        {"pacs": {"url": "http://127.0.0.1/x", "token": "t", "username": "u", "password": "p"}},
    ):
        with pytest.raises(ValueError):
            make_client({"backend": "embedded"}, dicomweb_sources=sources)
