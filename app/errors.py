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


# --- serving: the backend and the gateway's own limits -------------------------------------
class BackendUnavailableError(CmrError):
    """The encoder backend cannot be reached or has no ready model (Triton down, restarting)."""

    code = "backend_unavailable"
    http_status = 503


class BackendTimeoutError(CmrError):
    """The backend did not answer within the request's deadline."""

    code = "backend_timeout"
    http_status = 504


class BackendError(CmrError):
    """The backend answered with an error that retrying will not fix (bad tensor, wrong model)."""

    code = "backend_error"
    http_status = 502


class OverloadedError(CmrError):
    """Every inference slot is busy; the client should retry after `retry_after_s`."""

    code = "overloaded"
    http_status = 503

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotReadyError(CmrError):
    """The gateway is up but cannot serve yet (backend down, prompts not embedded)."""

    code = "not_ready"
    http_status = 503


class RequestTimeoutError(CmrError):
    code = "request_timeout"
    http_status = 504


class UnauthorizedError(CmrError):
    code = "unauthorized"
    http_status = 401


class NoFilesError(CmrError):
    code = "no_files"
    http_status = 422


class InvalidConditionsError(CmrError):
    """The `conditions` or `mode` of a request cannot be scored (bad JSON, missing prompts)."""

    code = "invalid_conditions"
    http_status = 422


class UnknownConditionSetError(CmrError):
    code = "unknown_condition_set"
    http_status = 404


class InvalidUploadError(CmrError):
    """The request body is not a readable multipart form with `files`."""

    code = "invalid_upload"
    http_status = 400


class UnsupportedMediaTypeError(CmrError):
    code = "unsupported_media_type"
    http_status = 415


class InvalidTextsError(CmrError):
    code = "invalid_texts"
    http_status = 422


# --- case archive ----------------------------------------------------------------------------
class ArchiveUnavailableError(CmrError):
    """No case archive is configured, or its file cannot be opened."""

    code = "archive_unavailable"
    http_status = 503


class ArchiveModelMismatchError(CmrError):
    """The archive holds embeddings of another model version: searching it would compare
    vectors from two different embedding spaces, so it is refused until re-indexed."""

    code = "archive_model_mismatch"
    http_status = 409


class InvalidSearchError(CmrError):
    """A search or report request that cannot be answered as asked (top_k, filters)."""

    code = "invalid_search"
    http_status = 422


class InvalidSubjectError(CmrError):
    """A labelled NIfTI subject folder (ACDC layout) that cannot be read as a study."""

    code = "invalid_subject"
    http_status = 422


# --- few-shot prototypes and explanations ----------------------------------------------------
class InvalidPrototypeError(CmrError):
    """A prototype that cannot be registered as asked: too few studies, vectors of the wrong
    width, unknown archive study keys, or no archive to read them from."""

    code = "invalid_prototype"
    http_status = 422


class UnknownPrototypeError(CmrError):
    code = "unknown_prototype"
    http_status = 404


class PrototypeExistsError(CmrError):
    """Prototypes are immutable: a new version gets a new name (e.g. site-amyloid-v2)."""

    code = "prototype_exists"
    http_status = 409


class PrototypeModelMismatchError(CmrError):
    """The prototype was registered with another model version: its means live in another
    embedding space. Register it again from the studies with this model."""

    code = "prototype_model_mismatch"
    http_status = 409


class PrototypeStoreUnavailableError(CmrError):
    """CMR_PROTOTYPE_DIR cannot be written (a read-only filesystem, no volume mounted)."""

    code = "prototype_store_unavailable"
    http_status = 503


class ExplanationUnavailableError(CmrError):
    """The released model pools its clips in a way the occlusion of app/zeroshot/explain.py
    does not understand (its study embedding is no weighted sum of its clip embeddings)."""

    code = "explanation_unavailable"
    http_status = 501


# --- hospital integration: FHIR server, jobs ----------------------------------------------
class InvalidFhirLinksError(CmrError):
    """The `fhir` field of a report request is not a valid set of FHIR references."""

    code = "invalid_fhir_links"
    http_status = 422


class FhirUnavailableError(CmrError):
    """A bundle was to be posted, but this gateway has no FHIR server (CMR_FHIR_SERVER_URL):
    a request it cannot serve as asked, not an outage (retrying will not help)."""

    code = "fhir_unavailable"
    http_status = 422


class FhirServerError(CmrError):
    """The FHIR server refused the transaction, or answered something that is not a
    transaction-response Bundle, or could not be reached."""

    code = "fhir_server_error"
    http_status = 502


class InvalidJobError(CmrError):
    """A job request that cannot be run as asked (task, format, webhook URL)."""

    code = "invalid_job"
    http_status = 422


class WebhookNotAllowedError(CmrError):
    """A webhook URL whose scheme or host is not on the gateway's allow-list."""

    code = "webhook_not_allowed"
    http_status = 422


class JobNotFoundError(CmrError):
    code = "job_not_found"
    http_status = 404


class JobsUnavailableError(CmrError):
    """The job store cannot be opened (CMR_JOBS_DIR not writable)."""

    code = "jobs_unavailable"
    http_status = 503


# --- DICOMweb sources (PACS) -----------------------------------------------------------------
class UnknownDicomwebSourceError(CmrError):
    """A study reference names no configured DICOMweb source (CMR_DICOMWEB_SOURCES)."""

    code = "unknown_dicomweb_source"
    http_status = 422


class StudyNotFoundError(CmrError):
    """The DICOMweb source holds no study of that StudyInstanceUID."""

    code = "study_not_found"
    http_status = 404


class DicomwebError(CmrError):
    """The DICOMweb source answered with an error, or with something unreadable."""

    code = "dicomweb_error"
    http_status = 502


class DicomwebRedirectError(DicomwebError):
    """The DICOMweb source answered with a redirect: never followed, as it could send the
    gateway (and the source's credentials) to any host."""

    code = "dicomweb_redirect_refused"


class DicomwebUnavailableError(DicomwebError):
    """The DICOMweb source cannot be reached (connection refused, DNS, TLS)."""

    code = "dicomweb_unavailable"


class DicomwebTimeoutError(CmrError):
    code = "dicomweb_timeout"
    http_status = 504
