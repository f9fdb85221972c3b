"""Reading a study upload: the multipart form of /v1/diagnose, /v1/embed/study and friends.

Parsed by hand rather than through FastAPI's File() parameters so that the file-count cap, the
body-size cap (enforced while the body streams in) and a malformed body each get their own
typed error instead of a generic 400.
"""

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from app.config import ServingSettings
from app.dicom.sources import Upload
from app.errors import (
    InvalidUploadError,
    NoFilesError,
    TooManyFilesError,
    UnsupportedMediaTypeError,
)

MAX_FORM_FIELDS = 8


def study_form_schema(extra_fields: dict[str, dict] | None = None) -> dict:
    """OpenAPI requestBody of a multipart study upload (plus route-specific text fields)."""
    properties: dict[str, dict] = {
        "files": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "minItems": 1,
            "description": "the study: DICOM files (any names), or one .zip holding them",
        },
        **(extra_fields or {}),
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["files"], "properties": properties}
                }
            },
        }
    }


async def read_form(request: Request, settings: ServingSettings) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaTypeError("send the study as multipart/form-data with `files`")
    try:
        return await request.form(max_files=settings.max_upload_files, max_fields=MAX_FORM_FIELDS)
    except HTTPException as exc:
        if "Too many files" in str(exc.detail):
            raise TooManyFilesError(
                f"at most {settings.max_upload_files} files in one request"
            ) from None
        raise InvalidUploadError(f"unreadable multipart body: {exc.detail}") from None


async def study_uploads(form: FormData) -> list[Upload]:
    """The (filename, bytes) of every part named `files`. Raises NoFilesError if none."""
    parts = form.getlist("files")
    uploads: list[Upload] = []
    for index, part in enumerate(parts):
        if not isinstance(part, UploadFile):
            raise InvalidUploadError("`files` parts must be files, not text fields")
        uploads.append((part.filename or f"file-{index}", await part.read()))
    if not uploads:
        raise NoFilesError("no `files` in the upload: send the study's DICOM files or a .zip")
    return uploads


def text_field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if isinstance(value, UploadFile):
        raise InvalidUploadError(f"`{name}` must be a text field, not a file")
    return value
