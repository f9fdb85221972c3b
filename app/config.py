"""Settings from the environment (prefix CMR_). One object, read once per process."""

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.dicomweb.models import SOURCE_NAME_PATTERN, DicomwebSource

# Memory settings of the serving process (`make serve`, the gateway image, the tests' and the
# benches' live server). Two malloc arenas bound what threads hold. Fixed malloc thresholds
# keep a study's buffers (pixel data of one DICOM file, upload chunks) in the arenas for reuse:
# with glibc's adaptive defaults the gateway handed them back to the kernel and faulted them in
# again for every study. numpy must not ask for transparent huge pages for its large arrays:
# with the kernel's `defrag=madvise` such a fault may compact memory synchronously, which made
# assembling a study's pixel array several times slower at random.
SERVING_MEMORY_ENV = {
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(128 << 20),
    "NUMPY_MADVISE_HUGEPAGE": "0",
}


class IngestLimits(BaseSettings):
    """Caps on what one study upload may contain; exceeding one raises a typed error."""

    model_config = SettingsConfigDict(env_prefix="CMR_", env_file=".env", extra="ignore")

    max_files: int = Field(4000, ge=1, description="DICOM files in one study")
    max_total_bytes: int = Field(1_000_000_000, ge=1, description="bytes of one study, unpacked")
    max_zip_ratio: float = Field(200.0, gt=1, description="unpacked/packed size of one zip")
    max_zip_entries: int = Field(10_000, ge=1)
    min_cine_phases: int = Field(8, ge=2, description="phases at one position to count as cine")


@lru_cache
def ingest_limits() -> IngestLimits:
    return IngestLimits()


class ServingSettings(BaseSettings):
    """The gateway's settings (environment, prefix CMR_). Ingest caps live in IngestLimits."""

    model_config = SettingsConfigDict(env_prefix="CMR_", env_file=".env", extra="ignore")

    backend: Literal["embedded", "triton"] = "embedded"
    model_repository: Path = Field(
        Path("model_repository"), description="folder with model_card.json and the encoders"
    )
    triton_url: str = Field("127.0.0.1:8001", description="host:port of Triton's gRPC/HTTP API")
    triton_protocol: Literal["grpc", "http"] = "grpc"
    backend_timeout_s: float = Field(30.0, gt=0, description="deadline of one backend call")
    backend_retries: int = Field(2, ge=0, description="extra attempts on UNAVAILABLE")
    max_concurrent_inferences: int = Field(
        2, ge=1, description="studies decoded/encoded at once; more get 503 + Retry-After"
    )
    max_queue_wait_s: float = Field(
        1.0, ge=0, description="how long a request may wait for a free slot before 503"
    )
    request_timeout_s: float = Field(120.0, gt=0, description="whole-request deadline")
    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1, description="body of one request")
    max_upload_files: int = Field(4000, ge=1, description="files in one multipart request")
    max_texts: int = Field(64, ge=1, description="texts in one embed/text request")
    max_text_chars: int = Field(2000, ge=1, description="characters of one text or prompt")
    prompt_cache_size: int = Field(1024, ge=0, description="custom prompt embeddings kept")
    api_keys_sha256: list[str] = Field(
        default_factory=list,
        description="sha256 hex digests of accepted API keys; empty = open (development only)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    inference_threads: int = Field(
        0, ge=0, description="onnxruntime intra-op threads per session (0 = one per core)"
    )
    gil_switch_interval_ms: float = Field(
        1.0,
        gt=0,
        le=100,
        description="longest a thread holds the GIL while another waits (Python's default: 5)",
    )
    archive_path: Path | None = Field(
        Path("archive/demo/demo.sqlite"),
        description="SQLite case archive searched by /v1/search and /v1/report; none = off",
    )
    prototype_dir: Path = Field(
        Path("prototypes"),
        description="where POST /v1/prototypes stores the registered few-shot prototypes",
    )
    archive_max_top_k: int = Field(50, ge=1, description="most results one search returns")
    archive_exact_max: int = Field(
        10_000, ge=0, description="archives up to this size are searched exactly, larger by ANN"
    )
    # Hospital integration: audit trail, linked FHIR, asynchronous jobs (docs/design.md).
    audit_log_path: Path | None = Field(
        None, description="append-only JSON-lines audit trail; none = stdout (logs go to stderr)"
    )
    audit_salt: SecretStr | None = Field(
        None, description="key of the audit trail's study hashes; none = random per process"
    )
    fhir_server_url: AnyHttpUrl | None = Field(
        None, description="FHIR R4B base URL that report bundles may be posted to (transaction)"
    )
    fhir_server_token: SecretStr | None = Field(None, description="bearer token of that server")
    fhir_patient_id_system: str | None = Field(
        None, description="Identifier.system of DICOM PatientIDs (the hospital's MRN system)"
    )
    fhir_accession_system: str | None = Field(
        None, description="Identifier.system of DICOM AccessionNumbers (the RIS's)"
    )
    jobs_dir: Path = Field(
        Path("build/jobs"), description="job database and the uploads of queued jobs"
    )
    jobs_max_queued: int = Field(16, ge=1, description="jobs queued or running; more get 503")
    jobs_webhook_hosts: list[str] = Field(
        default_factory=list, description="host[:port] a job's webhook may call; empty = none"
    )
    jobs_webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key that signs webhook calls (X-CMR-Signature)"
    )

    dicomweb_sources: dict[str, DicomwebSource] = Field(
        default_factory=dict,
        description="PACS that studies may be referenced in, by name: JSON "
        '{"pacs": {"url": ..., "username": ..., "password": ...}} (or "token")',
    )

    @field_validator("dicomweb_sources")
    @classmethod
    def _source_names(cls, sources: dict[str, DicomwebSource]) -> dict[str, DicomwebSource]:
        for name in sources:
            if not re.fullmatch(SOURCE_NAME_PATTERN, name):
                raise ValueError(f"DICOMweb source name {name!r} must match {SOURCE_NAME_PATTERN}")
        return sources


@lru_cache
def serving_settings() -> ServingSettings:
    return ServingSettings()
