"""The gateway's streaming multipart reader: byte-exact parts whatever the chunking, the same
result as Starlette's parser, each file handed on while the body still arrives, and a typed
error for each malformed or over-limit body."""

import asyncio
import random

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from app.api.uploads import (
    MAX_FIELD_BYTES,
    MAX_FORM_FIELDS,
    StudyForm,
    form_data_disposition,
    read_form,
)
from app.config import ServingSettings
from app.dicom.sources import Upload
from app.errors import (
    InvalidUploadError,
    NoFilesError,
    TooManyFilesError,
    UnsupportedMediaTypeError,
)

SETTINGS = ServingSettings(max_upload_files=5)


def _encoded(files: list, data: dict | None = None) -> tuple[str, bytes]:
    request = httpx.Request("POST", "http://gateway/", files=files, data=data)
    return request.headers["content-type"], request.read()


def _request(content_type: str, body: bytes, chunk: int = 65_536) -> tuple[Request, list[int]]:
    """A Starlette request whose body arrives in `chunk`-byte messages; the list counts them."""
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    received = [0]

    async def receive() -> dict:
        received[0] += 1
        index = received[0] - 1
        more = index < len(chunks) - 1
        return {"type": "http.request", "body": chunks[index], "more_body": more}

    headers = [(b"content-type", content_type.encode())]
    scope = {"type": "http", "method": "POST", "headers": headers, "path": "/", "query_string": b""}
    return Request(scope, receive), received


def _read(content_type: str, body: bytes, chunk: int = 65_536) -> tuple[StudyForm, list[Upload]]:
    """The form's fields, and the files in the order they were handed on."""
    files: list[Upload] = []
    form = asyncio.run(read_form(_request(content_type, body, chunk)[0], SETTINGS, files.append))
    return form, files


@pytest.mark.parametrize("chunk", [1, 7, 100, 65_536])
def test_parts_are_byte_exact_whatever_the_chunking(chunk: int) -> None:
    rng = random.Random(chunk)
    blobs = [rng.randbytes(rng.randrange(0, 3000)) for _ in range(4)]
    blobs.append(b"\r\n--looks-like-a-boundary\r\n" * 20)  # boundary look-alikes in the data
    files = [("files", (f"im{i}.dcm", b, "application/dicom")) for i, b in enumerate(blobs)]
    content_type, body = _encoded(files, {"mode": "findings", "conditions": '["é"]'})
    form, uploads = _read(content_type, body, chunk)
    assert form.text("mode") == "findings"
    assert form.text("conditions") == '["é"]'
    assert form.text("absent") is None
    assert uploads == [(f"im{i}.dcm", b) for i, b in enumerate(blobs)]
    assert [p.name for p in form.parts] == ["mode", "conditions"]  # the files are not kept


def test_same_parts_as_starlettes_parser() -> None:
    rng = random.Random(0)
    files = [
        ("files", (f"d/{i}.dcm", rng.randbytes(50_000), "application/dicom")) for i in range(3)
    ]
    content_type, body = _encoded(files, {"mode": "exclusive"})

    async def starlette_parts() -> list[tuple[str, bytes]]:
        form = await _request(content_type, body)[0].form()
        parts = [(p.filename, await p.read()) for p in form.getlist("files")]  # type: ignore[union-attr]
        await form.close()
        return parts

    assert _read(content_type, body)[1] == asyncio.run(starlette_parts())


def test_each_file_is_handed_on_as_soon_as_its_part_is_in() -> None:
    files = [("files", (f"{i}.dcm", bytes([i]) * 10_000, "application/dicom")) for i in range(4)]
    content_type, body = _encoded(files)
    request, received = _request(content_type, body, chunk=1_000)
    messages_at_handover: list[int] = []
    asyncio.run(
        read_form(request, SETTINGS, lambda upload: messages_at_handover.append(received[0]))
    )
    assert len(messages_at_handover) == 4
    assert messages_at_handover == sorted(messages_at_handover)
    assert messages_at_handover[0] < received[0] // 3  # the first long before the body is in


def test_an_upload_without_files_is_refused() -> None:
    body = b'--x\r\nContent-Disposition: form-data; name="mode"\r\n\r\nfindings\r\n--x--\r\n'
    with pytest.raises(NoFilesError):
        _read("multipart/form-data; boundary=x", body)


def test_unnamed_file_gets_a_name_and_other_parts_are_not_uploads() -> None:
    body = (
        b'--x\r\nContent-Disposition: form-data; name="files"; filename=""\r\n\r\na\r\n'
        b'--x\r\nContent-Disposition: form-data; name="other"; filename="o"\r\n\r\nb\r\n--x--\r\n'
    )
    form, uploads = _read("multipart/form-data; boundary=x", body)
    assert uploads == [("file-0", b"a")]
    assert [(p.name, p.filename, p.data) for p in form.parts] == [("other", "o", b"b")]


def test_too_many_files_stops_reading_the_body() -> None:
    files = [("files", (f"{i}.dcm", bytes(10_000), "application/dicom")) for i in range(50)]
    content_type, body = _encoded(files)
    request, received = _request(content_type, body, chunk=10_000)
    with pytest.raises(TooManyFilesError):
        asyncio.run(read_form(request, SETTINGS, lambda upload: None))
    assert received[0] < 10  # of about 50 messages


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        ("application/json", b"{}", UnsupportedMediaTypeError),
        ("multipart/form-data", b"--x\r\n", InvalidUploadError),  # no boundary parameter
        ("multipart/form-data; boundary=x", b"garbage", InvalidUploadError),
        # truncated: the closing boundary never comes
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nabc',
            InvalidUploadError,
        ),
        # a part without Content-Disposition, or without any header
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nX-A: b\r\n\r\nabc\r\n--x--\r\n",
            InvalidUploadError,
        ),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\nabc\r\n--x--\r\n", InvalidUploadError),
        # a header line without a colon
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nA\r\n\r\nabc\r\n--x--\r\n",
            InvalidUploadError,
        ),
    ],
)
def test_malformed_bodies_are_typed_errors(content_type: str, body: bytes, error: type) -> None:
    with pytest.raises(error):
        _read(content_type, body)


def test_field_limits() -> None:
    fields = {f"f{i}": "v" for i in range(MAX_FORM_FIELDS + 1)}
    with pytest.raises(InvalidUploadError, match="text fields"):
        _read(*_encoded([("files", ("a", b"x", "x/y"))], fields))
    with pytest.raises(InvalidUploadError, match="limited"):
        _read(*_encoded([("files", ("a", b"x", "x/y"))], {"mode": "m" * (MAX_FIELD_BYTES + 1)}))


def test_fields_and_files_in_the_wrong_role() -> None:
    study = ("files", ("a.dcm", b"x", "application/dicom"))
    form, _ = _read(*_encoded([study, ("mode", ("m.txt", b"findings", "text/plain"))]))
    with pytest.raises(InvalidUploadError, match="text field, not a file"):
        form.text("mode")
    with pytest.raises(InvalidUploadError, match="must be files"):
        _read(*_encoded([study], {"files": "text"}))


def test_text_that_is_not_utf8() -> None:
    body = (
        b'--x\r\nContent-Disposition: form-data; name="mode"\r\n\r\n\xff\xfe\r\n'
        b'--x\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nx\r\n--x--\r\n'
    )
    with pytest.raises(InvalidUploadError, match="UTF-8"):
        _read("multipart/form-data; boundary=x", body)[0].text("mode")


disposition_texts = st.text(alphabet=st.sampled_from('ab é/\\";=%*\t'), max_size=12)


@given(name=disposition_texts, filename=st.none() | disposition_texts, spaced=st.booleans())
def test_plain_dispositions_read_as_python_multipart_reads_them(
    name: str, filename: str | None, spaced: bool
) -> None:
    value = f'form-data;{" " if spaced else ""}name="{name}"'
    if filename is not None:
        value += f'; filename="{filename}"'
    encoded = value.encode()
    assert form_data_disposition(encoded) == parse_options_header(encoded)
