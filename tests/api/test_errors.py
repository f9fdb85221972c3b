"""Every error class of the data layer and the gateway returns its problem+json `code`."""

import io
import json
import zipfile
from collections.abc import Callable

import pydicom
import pytest
from api_helpers import Files, make_client, multipart
from fastapi.testclient import TestClient
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML

Edit = Callable[[pydicom.Dataset, int], pydicom.Dataset | None]


def _edited(files: Files, edit: Edit) -> Files:
    out: Files = []
    for index, (name, data) in enumerate(files):
        ds = pydicom.dcmread(io.BytesIO(data))
        edited = edit(ds, index)
        if edited is not None:
            buffer = io.BytesIO()
            edited.save_as(buffer, enforce_file_format=True)
            out.append((name, buffer.getvalue()))
    return out


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _assert_problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith(code)
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]


def _sax_only(ds: pydicom.Dataset, index: int) -> pydicom.Dataset | None:
    return ds if "4ch" not in str(ds.get("SeriesDescription", "")).lower() else None


def _no_pixels(ds: pydicom.Dataset, index: int) -> pydicom.Dataset:
    del ds.PixelData
    return ds


def _mpeg2(ds: pydicom.Dataset, index: int) -> pydicom.Dataset:
    ds.PixelData = encapsulate([ds.PixelData])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    return ds


def _truncated(ds: pydicom.Dataset, index: int) -> pydicom.Dataset:
    if index == 5:
        ds.PixelData = ds.PixelData[:1000]
    return ds


def _one_phase(ds: pydicom.Dataset, index: int) -> pydicom.Dataset | None:
    return ds if int(ds.InstanceNumber) == 1 else None


def _spacing(ds: pydicom.Dataset, index: int) -> pydicom.Dataset:
    if index in (3, 4, 5):
        ds.PixelSpacing = [0.5, 0.5]
    return ds


DATA_ERRORS = [
    (_no_pixels, 422, "no_pixel_data"),
    (_mpeg2, 415, "unsupported_transfer_syntax"),
    (_truncated, 422, "corrupt_pixel_data"),
    (_one_phase, 422, "no_cine_series"),
    (_spacing, 422, "inconsistent_geometry"),
]


@pytest.mark.parametrize(("edit", "status", "code"), DATA_ERRORS, ids=[c for *_, c in DATA_ERRORS])
def test_broken_studies_get_their_code(
    client: TestClient, study_files: Files, edit: Edit, status: int, code: str
) -> None:
    response = client.post("/v1/diagnose", files=multipart(_edited(study_files, edit)))
    _assert_problem(response, status, code)


ARCHIVE_ERRORS = [
    ({"../evil.dcm": b"x" * 200}, 422, "unsafe_archive"),
    ({"zeros.dcm": bytes(4_000_000)}, 413, "archive_bomb"),
]


@pytest.mark.parametrize(
    ("entries", "status", "code"), ARCHIVE_ERRORS, ids=[c for *_, c in ARCHIVE_ERRORS]
)
def test_unsafe_archives_get_their_code(
    client: TestClient, entries: dict[str, bytes], status: int, code: str
) -> None:
    files = [("files", ("study.zip", _zip(entries), "application/zip"))]
    _assert_problem(client.post("/v1/diagnose", files=files), status, code)


def test_garbage_is_not_dicom_and_a_broken_zip_is_invalid(client: TestClient) -> None:
    not_dicom = client.post("/v1/diagnose", files=[("files", ("a.txt", b"hello", "text/plain"))])
    _assert_problem(not_dicom, 415, "not_dicom")
    broken = _zip({"a.dcm": bytes(range(256)) * 400})[:-30]
    _assert_problem(
        client.post("/v1/diagnose", files=[("files", ("s.zip", broken, "application/zip"))]),
        422,
        "invalid_archive",
    )


def test_request_errors_get_their_code(client: TestClient, study_files: Files) -> None:
    no_files = client.post("/v1/diagnose", data={"mode": "exclusive"}, files={"x": ("", b"")})
    _assert_problem(no_files, 422, "no_files")
    as_text = client.post("/v1/diagnose", content=b"files", headers={"Content-Type": "text/plain"})
    _assert_problem(as_text, 415, "unsupported_media_type")
    as_json = client.post("/v1/embed/study", json={"files": []})  # no study by reference here
    _assert_problem(as_json, 415, "unsupported_media_type")
    not_a_reference = client.post("/v1/diagnose", json={"files": []})  # JSON: a reference
    _assert_problem(not_a_reference, 422, "validation_error")
    one_file = multipart(study_files[:1])
    for conditions, mode in [
        ("{not json", None),
        ('"no_such_set"', None),
        ('[{"label": "x", "prompts": ["dilated"]}]', None),  # exclusive needs two
        ('[{"label": "x", "prompts": ["a"]}, {"label": "y", "prompts": ["b"]}]', "findings"),
        ("42", None),
        (None, "sideways"),
    ]:
        data = {k: v for k, v in {"conditions": conditions, "mode": mode}.items() if v}
        response = client.post("/v1/diagnose", files=one_file, data=data)
        _assert_problem(response, 422, "invalid_conditions")


def test_validation_routing_and_text_limits(client: TestClient) -> None:
    _assert_problem(client.post("/v1/embed/text", json={"texts": []}), 422, "validation_error")
    _assert_problem(client.post("/v1/embed/text", content=b"{"), 422, "validation_error")
    too_many = {"texts": ["a"] * 65}
    _assert_problem(client.post("/v1/embed/text", json=too_many), 422, "invalid_texts")
    too_long = {"texts": ["a" * 2001]}
    _assert_problem(client.post("/v1/embed/text", json=too_long), 422, "invalid_texts")
    _assert_problem(client.get("/v1/nothing-here"), 404, "not_found")
    _assert_problem(client.get("/v1/diagnose"), 405, "method_not_allowed")


def test_upload_caps_are_typed(backend_settings: dict[str, str], study_files: Files) -> None:
    with make_client(backend_settings, max_upload_files=10, max_upload_bytes=5_000_000) as capped:
        many = capped.post("/v1/diagnose", files=multipart(study_files[:20]))
        _assert_problem(many, 413, "too_many_files")
        big = capped.post("/v1/diagnose", files=[("files", ("a.dcm", bytes(6_000_000)))])
        _assert_problem(big, 413, "payload_too_large")
        streamed = capped.post(  # no Content-Length: refused while the body arrives
            "/v1/embed/study",
            content=(bytes(1_000_000) for _ in range(6)),
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        _assert_problem(streamed, 413, "payload_too_large")


def test_custom_condition_prompts_are_validated(client: TestClient, study_files: Files) -> None:
    conditions = [{"label": "a", "prompts": ["  "]}, {"label": "b", "prompts": ["x"]}]
    response = client.post(
        "/v1/diagnose",
        files=multipart(study_files[:1]),
        data={"conditions": json.dumps(conditions)},
    )
    _assert_problem(response, 422, "invalid_conditions")
