"""Typed errors of the data path. Each carries a stable machine-readable `code` and the HTTP
status the API maps it to; the API layer turns them into problem+json in one place."""

from typing import ClassVar


class CmrError(Exception):
    """Base of every error a user's input can cause."""

    code: ClassVar[str] = "cmr_error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotDicomError(CmrError):
    code = "not_dicom"
    http_status = 415


class NoPixelDataError(CmrError):
    code = "no_pixel_data"
    http_status = 422


class UnsupportedTransferSyntaxError(CmrError):
    code = "unsupported_transfer_syntax"
    http_status = 415


class CorruptPixelDataError(CmrError):
    code = "corrupt_pixel_data"
    http_status = 422


class NoCineSeriesError(CmrError):
    code = "no_cine_series"
    http_status = 422


class InconsistentGeometryError(CmrError):
    code = "inconsistent_geometry"
    http_status = 422


class TooManyFilesError(CmrError):
    code = "too_many_files"
    http_status = 413


class PayloadTooLargeError(CmrError):
    code = "payload_too_large"
    http_status = 413


class UnsafeArchiveError(CmrError):
    """Zip entries that escape the extraction root (path traversal, absolute paths, links)."""

    code = "unsafe_archive"
    http_status = 422


class ArchiveBombError(CmrError):
    """A zip whose declared or actual expansion exceeds the size or ratio caps."""

    code = "archive_bomb"
    http_status = 413


class InvalidArchiveError(CmrError):
    code = "invalid_archive"
    http_status = 422
