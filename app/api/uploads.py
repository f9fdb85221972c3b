"""Reading a study upload: the multipart form of /v1/diagnose, /v1/embed/study and friends.

The body is streamed through `MultipartSplitter` (app/api/multipart.py) rather than Starlette's
`request.form()`: every part's bytes are kept as zero-copy views of the received chunks and
joined once, where Starlette copies each part through a spooled temporary file and again on
`read()` (bench/bench_upload.py: 325 DICOM parts, 43 MB). Each file of the study is handed on
(`on_file`) as soon as its part is complete, so that the gateway ingests it while the rest of
the body arrives. Each limit gets its own typed error as soon as it is crossed: the file-count
cap, the field cap, the size of a text field; the body-size cap is enforced by the middleware
while the body streams in.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.multipart import parse_options_header

from app.api.multipart import MultipartSplitter, MultipartSyntaxError
from app.config import ServingSettings
from app.dicom.sources import Upload
from app.errors import (
    InvalidUploadError,
    NoFilesError,
    TooManyFilesError,
    UnsupportedMediaTypeError,
)

MAX_FORM_FIELDS = 8
MAX_FIELD_BYTES = 1024 * 1024  # a text field (custom prompts are the longest)


def flag_field_schema(description: str) -> dict:
    return {
        "type": "string",
        "enum": ["true", "false"],
        "default": "false",
        "description": description,
    }


def study_form_schema(
    extra_fields: dict[str, dict] | None = None, reference_body: str | None = None
) -> dict:
    """OpenAPI requestBody of a multipart study upload (plus route-specific text fields), and
    of the JSON body `reference_body` (a component schema's name) referencing a study in PACS."""
    properties: dict[str, dict] = {
        "files": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "minItems": 1,
            "description": "the study: DICOM files (any names), or one .zip holding them",
        },
        **(extra_fields or {}),
    }
    content: dict[str, dict] = {
        "multipart/form-data": {
            "schema": {"type": "object", "required": ["files"], "properties": properties}
        }
    }
    if reference_body is not None:
        content["application/json"] = {"schema": {"$ref": f"#/components/schemas/{reference_body}"}}
    return {"requestBody": {"required": True, "content": content}}


@dataclass
class FormPart:
    name: str
    filename: str | None  # None: a text field
    data: bytes


@dataclass
class StudyForm:
    """The parts of a multipart upload other than the study's `files`, in the order sent."""

    parts: list[FormPart] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        """The text field `name` (the first, if sent twice), or None."""
        for part in self.parts:
            if part.name == name:
                if part.filename is not None:
                    raise InvalidUploadError(f"`{name}` must be a text field, not a file")
                try:
                    return part.data.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidUploadError(f"`{name}` is not UTF-8 text") from None
        return None

    def flag(self, name: str) -> bool:
        """The boolean text field `name` ("true"/"false", "1"/"0"); absent is false."""
        value = (self.text(name) or "false").strip().lower()
        if value not in ("true", "false", "1", "0"):
            raise InvalidUploadError(f"`{name}` must be true or false, got {value[:20]!r}")
        return value in ("true", "1")


class _PartCollector:
    """Assembles the split parts (a `PartHandler`) and enforces the caps."""

    def __init__(self, max_files: int, on_file: Callable[[Upload], None]):
        self.form = StudyForm()
        self.max_files = max_files
        self.on_file = on_file
        self._study_file: str | None = None  # the filename while a part of `files` is read
        self._text_field = False  # a text field's part is being read
        self.files = self.fields = self.study_files = 0
        self._pieces: list[memoryview] = []
        self._size = 0

    def part_headers(self, block: bytes) -> None:
        kind, options = form_data_disposition(_content_disposition(block))
        name = options.get(b"name")
        if kind != b"form-data" or name is None:
            raise InvalidUploadError("a multipart part without `Content-Disposition: form-data`")
        self._pieces, self._size = [], 0
        filename = options.get(b"filename")
        self._text_field = filename is None
        if filename is None:
            if name == b"files":
                raise InvalidUploadError("`files` parts must be files, not text fields")
            self.fields += 1
            if self.fields > MAX_FORM_FIELDS:
                raise InvalidUploadError(f"at most {MAX_FORM_FIELDS} text fields in one request")
        else:
            self.files += 1
            if self.files > self.max_files:
                raise TooManyFilesError(f"at most {self.max_files} files in one request")
            if name == b"files":
                decoded = filename.decode("utf-8", "replace")
                self._study_file = decoded or f"file-{self.study_files}"
                self.study_files += 1
                return
        self.form.parts.append(
            FormPart(
                name=name.decode("utf-8", "replace"),
                filename=None if filename is None else filename.decode("utf-8", "replace"),
                data=b"",
            )
        )

    def part_data(self, data: memoryview) -> None:
        self._size += len(data)
        if self._text_field and self._size > MAX_FIELD_BYTES:
            raise InvalidUploadError(f"a text field is limited to {MAX_FIELD_BYTES} bytes")
        self._pieces.append(data)

    def part_end(self) -> None:
        data, self._pieces = b"".join(self._pieces), []
        if self._study_file is None:
            self.form.parts[-1].data = data
        else:
            self.on_file((self._study_file, data))
            self._study_file = None


# The disposition every client sends for a plain name and file name; anything else (escapes,
# RFC 2231 encodings, other spacing or parameters) goes to python-multipart's parser.
_PLAIN_DISPOSITION = re.compile(rb'form-data; name="([^"\\]*)"(?:; filename="([^"\\]*)")?')


def form_data_disposition(value: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """`parse_options_header(value)`, without its cost in the plain case (325 parts a study)."""
    plain = _PLAIN_DISPOSITION.fullmatch(value)
    if plain is None:
        return parse_options_header(value)
    name, filename = plain.groups()
    options = {b"name": name}
    if filename is not None:
        options[b"filename"] = filename
    return b"form-data", options


def _content_disposition(block: bytes) -> bytes:
    """The Content-Disposition value in a part's header block (b"" if absent)."""
    for line in block.split(b"\r\n") if block else ():
        name, colon, value = line.partition(b":")
        if not colon:
            raise InvalidUploadError("unreadable multipart body: a part header without a colon")
        if name.strip().lower() == b"content-disposition":
            return value.strip()
    return b""


async def read_form(
    request: Request, settings: ServingSettings, on_file: Callable[[Upload], None]
) -> StudyForm:
    """Stream the multipart body: each part of `files` goes to `on_file` as (filename, bytes)
    once complete, in the order sent; the other fields make the returned StudyForm. Raises the
    typed upload errors, NoFilesError if no `files` were sent."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    if media_type != b"multipart/form-data":
        raise UnsupportedMediaTypeError("send the study as multipart/form-data with `files`")
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidUploadError("unreadable multipart body: the boundary is missing")
    collector = _PartCollector(settings.max_upload_files, on_file)
    try:
        splitter = MultipartSplitter(boundary, collector)
        async for chunk in request.stream():
            splitter.feed(chunk)
    except MultipartSyntaxError as exc:
        raise InvalidUploadError(f"unreadable multipart body: {exc}") from None
    if not splitter.complete:
        raise InvalidUploadError("unreadable multipart body: it ends before its closing boundary")
    if collector.study_files == 0:
        raise NoFilesError("no `files` in the upload: send the study's DICOM files or a .zip")
    return collector.form
