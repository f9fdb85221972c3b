"""Settings from the environment (prefix CMR_). One object, read once per process."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
