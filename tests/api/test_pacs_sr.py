"""Results back to PACS as DICOM: the Structured Report of a diagnosis (Accept:
application/dicom), valid by dciodvfy (dicom3tools) and highdicom, referencing its source
study and series; with `"store": true` stored in the study's PACS over STOW-RS and read back."""

import io
import os
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import httpx
import pydicom
import pytest
from api_helpers import Files, multipart
from fastapi.testclient import TestClient
from pacs_helpers import reference, study_uid

from app.deploy.orthanc_server import OrthancProcess
from app.reporting.sr import LOCAL_SCHEME

pytestmark = pytest.mark.pacs
SR_MEDIA_TYPE = "application/dicom"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


def _dciodvfy(path: Path) -> str:
    """dciodvfy's errors on `path` (its warnings: local coding schemes, left out)."""
    binary = shutil.which("dciodvfy")
    if binary is None:
        message = "dciodvfy is not installed (`apt-get install dicom3tools`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=60)
    return "\n".join(line for line in done.stderr.splitlines() if line.startswith("Error"))


def _findings(sr: pydicom.Dataset) -> dict[str, tuple[float, str | None]]:
    """label -> (probability, Present/Absent or None), read back with highdicom."""
    out: dict[str, tuple[float, str | None]] = {}
    report = hd.sr.MeasurementReport.from_sequence([hd.sr.Comprehensive3DSR.from_dataset(sr)])
    for group in report.get_image_measurement_groups():
        label = group.finding_type.value
        (probability,) = group.get_measurements(name=pydicom.sr.codedict.codes.DCM.Probability)
        evaluations = group.get_qualitative_evaluations()
        presence = evaluations[0].value.meaning if evaluations else None
        out[label] = (probability.value, presence)
    return out


def test_diagnosis_as_a_structured_report(
    pacs_client: TestClient, pacs_files: Files, tmp_path: Path
) -> None:
    uid = study_uid(pacs_files)
    body = reference(uid, mode="findings")
    as_json = pacs_client.post("/v1/diagnose", json=body).json()
    response = pacs_client.post("/v1/diagnose", json=body, headers={"Accept": SR_MEDIA_TYPE})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == SR_MEDIA_TYPE
    path = tmp_path / "sr.dcm"
    path.write_bytes(response.content)
    assert _dciodvfy(path) == ""
    sr = pydicom.dcmread(path)
    assert sr.SOPClassUID == COMPREHENSIVE_3D_SR
    assert sr.Modality == "SR"
    assert sr.StudyInstanceUID == uid  # the SR joins the study it describes
    source = pydicom.dcmread(io.BytesIO(pacs_files[0][1]), stop_before_pixels=True)
    assert sr.PatientID == source.PatientID
    assert sr.SeriesInstanceUID not in _source_series(pacs_files)
    evidence = sr.CurrentRequestedProcedureEvidenceSequence
    assert [item.StudyInstanceUID for item in evidence] == [uid]
    referenced = {
        (series.SeriesInstanceUID, sop.ReferencedSOPInstanceUID)
        for series in evidence[0].ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    }
    assert {series for series, _ in referenced} == _source_series(pacs_files)
    assert len(referenced) == len(pacs_files)  # every instance the model saw
    card = pacs_client.get("/v1/model").json()
    assert sr.SoftwareVersions == card["version"]
    assert sr.PreliminaryFlag == "PRELIMINARY"
    assert "not for diagnostic use" in sr.SeriesDescription
    observer = hd.sr.Comprehensive3DSR.from_dataset(sr)
    device_names = [
        item.TextValue
        for item in observer.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeMeaning == "Device Observer Name"
    ]
    assert device_names == [f"{card['name']} {card['version']}"]
    findings = _findings(sr)
    assert findings == {
        c["label"]: (
            pytest.approx(c["probability"], abs=1e-5),
            "Present" if c["present"] else "Absent",
        )
        for c in as_json["conditions"]
    }
    schemes = [item.CodingSchemeDesignator for item in sr.CodingSchemeIdentificationSequence]
    assert LOCAL_SCHEME in schemes


def test_an_uploaded_study_gets_its_report_too(
    pacs_client: TestClient, study_files: Files, tmp_path: Path
) -> None:
    """Exclusive mode: probabilities, no presence (no threshold decides one)."""
    response = pacs_client.post(
        "/v1/diagnose", files=multipart(study_files), headers={"Accept": SR_MEDIA_TYPE}
    )
    assert response.status_code == 200
    path = tmp_path / "sr.dcm"
    path.write_bytes(response.content)
    assert _dciodvfy(path) == ""
    findings = _findings(pydicom.dcmread(path))
    assert len(findings) >= 2
    assert {presence for _, presence in findings.values()} == {None}
    assert sum(p for p, _ in findings.values()) == pytest.approx(1.0, abs=1e-4)


def test_store_sends_the_report_to_the_source_pacs(
    pacs_client: TestClient, pacs_files: Files, orthanc: OrthancProcess
) -> None:
    uid = study_uid(pacs_files)
    response = pacs_client.post("/v1/diagnose", json=reference(uid, mode="findings", store=True))
    assert response.status_code == 200, response.text
    result = response.json()
    stored = result["stored_report"]
    assert stored["dicomweb"] == "pacs"
    assert stored["study_instance_uid"] == uid
    # read back from Orthanc over WADO-RS, as a viewer would
    with httpx.Client(auth=orthanc.auth, timeout=30) as http:
        url = (
            f"{orthanc.dicomweb_url}/studies/{uid}/series/{stored['series_instance_uid']}"
            f"/instances/{stored['sop_instance_uid']}"
        )
        answer = http.get(url, headers={"Accept": 'multipart/related; type="application/dicom"'})
        assert answer.status_code == 200
        series = http.get(f"{orthanc.dicomweb_url}/studies/{uid}/series").json()
    sr = pydicom.dcmread(io.BytesIO(_single_part(answer)))
    assert sr.Modality == "SR"
    assert sr.SOPInstanceUID == stored["sop_instance_uid"]
    modalities = {item["00080060"]["Value"][0] for item in series}
    assert "SR" in modalities
    findings = _findings(sr)
    assert {label: p for label, (p, _) in findings.items()} == {
        c["label"]: pytest.approx(c["probability"], abs=1e-5) for c in result["conditions"]
    }
    # a stored SR in the study is not a cine: the study still diagnoses the same
    again = pacs_client.post("/v1/diagnose", json=reference(uid, mode="findings"))
    assert again.status_code == 200
    assert again.json()["study"]["files"] == len(pacs_files)


def _source_series(files: Files) -> set[str]:
    return {
        str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SeriesInstanceUID)
        for _, data in files
    }


def _single_part(response: httpx.Response) -> bytes:
    """The one part of a multipart/related answer."""
    boundary = response.headers["content-type"].split("boundary=")[1].split(";")[0].strip('"')
    part = response.content.split(b"--" + boundary.encode())[1]
    return part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
