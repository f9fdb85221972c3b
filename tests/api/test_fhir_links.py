"""POST /v1/report as linked FHIR: the caller's references or the DICOM header's identifiers in
the Bundle, and the Bundle posted as a transaction to a real (small, recording) FHIR server."""

import io
import json
from collections.abc import Iterator

import pydicom
import pytest
from api_helpers import Files, make_client, multipart
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from recorder import Recorder, fhir_server_answer, json_answer, recording_server

FHIR = {"Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[Recorder]:
    with recording_server() as server:
        server.answer = fhir_server_answer
        yield server


@pytest.fixture(scope="module")
def fhir_client(fhir_server: Recorder) -> Iterator[TestClient]:
    with make_client(
        {"backend": "embedded"},
        fhir_server_url=fhir_server.url + "/fhir",
        fhir_server_token="server-token",
        fhir_patient_id_system="urn:oid:1.2.36.146.595.217.0.1",
    ) as client:
        yield client


def header_of(files: Files) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(files[0][1]), stop_before_pixels=True)


def report_of(bundle: dict) -> dict:
    return next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    )


def test_header_identifiers_link_the_bundle(fhir_client: TestClient, study_files: Files) -> None:
    response = fhir_client.post("/v1/report", files=multipart(study_files), headers=FHIR)
    assert response.status_code == 200, response.text
    bundle = response.json()
    Bundle.model_validate(bundle)
    header = header_of(study_files)
    report = report_of(bundle)
    assert report["subject"]["identifier"] == {
        "system": "urn:oid:1.2.36.146.595.217.0.1",
        "value": header.PatientID,
    }
    assert report["basedOn"][0]["identifier"]["value"] == header.AccessionNumber
    uid = report["imagingStudy"][0]["identifier"]["value"]
    assert uid == f"urn:oid:{header.StudyInstanceUID}"


def test_caller_references_win(fhir_client: TestClient, study_files: Files) -> None:
    links = {
        "subject": "Patient/p1",
        "based_on": ["ServiceRequest/o1"],
        "encounter": "Encounter/e1",
    }
    response = fhir_client.post(
        "/v1/report", files=multipart(study_files), data={"fhir": json.dumps(links)}, headers=FHIR
    )
    assert response.status_code == 200, response.text
    report = report_of(response.json())
    assert report["subject"] == {"reference": "Patient/p1"}
    assert report["basedOn"] == [{"reference": "ServiceRequest/o1"}]
    assert report["encounter"] == {"reference": "Encounter/e1"}
    assert report["imagingStudy"][0]["type"] == "ImagingStudy"  # not passed: from the header


@pytest.mark.parametrize(
    "value", ['{"subject": "Device/1"}', "[1, 2]", "not json", '{"subject": "Patient/1", "x": 1}']
)
def test_invalid_links_are_a_422(fhir_client: TestClient, study_files: Files, value: str) -> None:
    response = fhir_client.post(
        "/v1/report", files=multipart(study_files), data={"fhir": value}, headers=FHIR
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_fhir_links"


def test_submit_posts_a_transaction_to_the_configured_server(
    fhir_client: TestClient, fhir_server: Recorder, study_files: Files
) -> None:
    before = len(fhir_server.received)
    response = fhir_client.post(
        "/v1/report",
        files=multipart(study_files),
        data={"fhir": '{"subject": "Patient/p1"}', "fhir_submit": "true"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    answer = Bundle.model_validate(response.json())
    assert answer.type == "transaction-response"
    (posted,) = fhir_server.received[before:]
    assert posted.method == "POST" and posted.path == "/fhir"
    assert posted.headers["Authorization"] == "Bearer server-token"
    assert posted.headers["Content-Type"] == "application/fhir+json"
    transaction = Bundle.model_validate(posted.json())
    assert transaction.type == "transaction"
    assert {e.request.method for e in transaction.entry} == {"POST"}
    assert report_of(posted.json())["subject"] == {"reference": "Patient/p1"}
    locations = [e.response.location for e in answer.entry]
    assert locations[0].startswith("DiagnosticReport/")


def test_a_refusing_fhir_server_is_a_502(
    fhir_client: TestClient, fhir_server: Recorder, study_files: Files
) -> None:
    fhir_server.answer = json_answer(400, {"resourceType": "OperationOutcome", "issue": []})
    try:
        response = fhir_client.post(
            "/v1/report", files=multipart(study_files), data={"fhir_submit": "true"}
        )
    finally:
        fhir_server.answer = fhir_server_answer
    assert response.status_code == 502
    assert response.json()["code"] == "fhir_server_error"


def test_submit_without_a_configured_server_is_a_422(study_files: Files) -> None:
    with make_client({"backend": "embedded"}) as client:
        response = client.post(
            "/v1/report", files=multipart(study_files), data={"fhir_submit": "true"}
        )
    assert response.status_code == 422
    assert response.json()["code"] == "fhir_unavailable"
