"""Studies referenced in a real PACS (Orthanc + DICOMweb): retrieved over QIDO-RS / WADO-RS
and answered exactly as the same study uploaded; a study not there is a 404 problem."""

import io
from pathlib import Path

import pydicom
import pytest
from api_helpers import Files, multipart, write_study
from fastapi.testclient import TestClient
from pacs_helpers import reference, study_uid

from app.deploy.orthanc_server import OrthancProcess

pytestmark = pytest.mark.pacs


def test_diagnose_by_reference_answers_as_the_upload(
    pacs_client: TestClient, pacs_files: Files
) -> None:
    uid = study_uid(pacs_files)
    by_reference = pacs_client.post("/v1/diagnose", json=reference(uid, mode="findings"))
    uploaded = pacs_client.post(
        "/v1/diagnose", files=multipart(pacs_files), data={"mode": "findings"}
    )
    assert by_reference.status_code == 200, by_reference.text
    assert uploaded.status_code == 200
    got, expected = by_reference.json(), uploaded.json()
    assert got["study"] == expected["study"]
    assert got["study"]["study_instance_uid"] == uid
    assert got["study"]["files"] == len(pacs_files)
    assert [(c["label"], c["present"]) for c in got["conditions"]] == [
        (c["label"], c["present"]) for c in expected["conditions"]
    ]
    for a, b in zip(got["conditions"], expected["conditions"], strict=True):
        assert a["probability"] == pytest.approx(b["probability"], abs=1e-5)
    assert got["timings_ms"]["receive"] > 0
    assert got["stored_report"] is None


def test_custom_conditions_by_reference(pacs_client: TestClient, pacs_files: Files) -> None:
    conditions = [
        {"label": "big LV", "prompts": ["dilated left ventricle"], "negative_prompts": ["normal"]}
    ]
    body = reference(study_uid(pacs_files), conditions=conditions, mode="findings")
    response = pacs_client.post("/v1/diagnose", json=body)
    assert response.status_code == 200, response.text
    assert [c["label"] for c in response.json()["conditions"]] == ["big LV"]


def test_report_and_search_by_reference(pacs_client: TestClient, pacs_files: Files) -> None:
    uid = study_uid(pacs_files)
    report = pacs_client.post("/v1/report", json=reference(uid, similar_cases=2))
    assert report.status_code == 200, report.text
    assert report.json()["study"]["study_instance_uid"] == uid
    assert len(report.json()["similar_cases"]) == 2
    fhir = pacs_client.post(
        "/v1/report", json=reference(uid), headers={"Accept": "application/fhir+json"}
    )
    assert fhir.status_code == 200
    assert fhir.json()["resourceType"] == "Bundle"
    search = pacs_client.post(
        "/v1/search/study", json=reference(uid, top_k=3, filters={"site": "site_d"})
    )
    assert search.status_code == 200, search.text
    results = search.json()["results"]
    assert len(results) == 3
    assert {r["site"] for r in results} == {"site_d"}


def test_only_the_cine_series_are_retrieved(
    pacs_client: TestClient, orthanc: OrthancProcess, tmp_path: Path
) -> None:
    """A study with a localizer series and an SR beside its cine: selection runs on the
    headers (WADO-RS metadata), and only the cine series' instances are downloaded."""
    files = write_study(tmp_path, "site_a", 616, "dilated_cardiomyopathy")
    extra = _localizer_series(files) + _report_series(files)
    orthanc.upload([data for _, data in files + extra])
    response = pacs_client.post("/v1/diagnose", json=reference(study_uid(files)))
    assert response.status_code == 200, response.text
    assert response.json()["study"]["files"] == len(files)  # neither localizer nor SR fetched


def test_a_study_without_cine_is_refused_before_any_pixels(
    pacs_client: TestClient, orthanc: OrthancProcess, tmp_path: Path
) -> None:
    files = write_study(tmp_path, "site_a", 617, "normal")
    localizers = _localizer_series(files)
    orthanc.upload([data for _, data in localizers + _report_series(files)])
    response = pacs_client.post("/v1/diagnose", json=reference(study_uid(files)))
    assert response.status_code == 422
    assert response.json()["code"] == "no_cine_series"


def test_a_study_missing_in_pacs_is_a_404_problem(pacs_client: TestClient) -> None:
    response = pacs_client.post("/v1/diagnose", json=reference("1.2.3.4.5.6.7.8.9"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "study_not_found"
    assert problem["type"].endswith("/study_not_found")
    assert "1.2.3.4.5.6.7.8.9" not in problem["detail"]


@pytest.mark.realdata
def test_the_real_sunnybrook_study_by_reference(
    pacs_client: TestClient, orthanc: OrthancProcess, realdata_dir: Path
) -> None:
    """240 real files (one series, 12 slices x 20 phases, a non-conformant UID with leading
    zeros) pulled from the PACS."""
    paths = sorted((realdata_dir / "sunnybrook_SCD0000101" / "dicom").glob("*.dcm"))
    orthanc.upload([p.read_bytes() for p in paths])
    uid = pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID
    response = pacs_client.post("/v1/diagnose", json=reference(str(uid)))
    assert response.status_code == 200, response.text
    study = response.json()["study"]
    assert (study["files"], study["slices"], study["phases"]) == (240, 12, 20)


def _localizer_series(files: Files) -> Files:
    """Three single-phase images in a new series of the same study (a scout)."""
    out: Files = []
    series_uid = pydicom.uid.generate_uid()
    for n, (name, data) in enumerate(files[:3]):
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesDescription = "localizer"
        ds.SeriesNumber = 1
        ds.InstanceNumber = n + 1
        ds.TriggerTime = 0
        ds.ImagePositionPatient = [0, 0, 10.0 * n]
        out.append((f"loc/{name}", _encoded(ds)))
    return out


def _report_series(files: Files) -> Files:
    """A text SR in the same study (what a PACS holds beside images)."""
    source = pydicom.dcmread(io.BytesIO(files[0][1]), stop_before_pixels=True)
    ds = pydicom.Dataset()
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "StudyDate", "StudyTime"):
        setattr(ds, keyword, source.get(keyword, ""))
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.Modality = "SR"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return [("report.dcm", _encoded(ds))]


def _encoded(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
