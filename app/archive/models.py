"""What goes into the case archive and what comes out, and the interface every store implements.

`CaseArchive` is the whole contract the gateway, the indexer and the evaluation use. The embedded
default is `SqliteArchive` (app/archive/store.py). An archive beyond one machine implements the
same protocol on an existing vector database rather than a home-made distributed store:
- Qdrant: one collection per model version (vector size = embed_dim, cosine distance); point id
  = UUID5 of `study_key` (the key itself in the payload, so `add` stays idempotent); payload
  indexes on `site` (keyword) and `study_date` (datetime); `search` = a query with a payload
  filter;
- pgvector: the `studies` table of store.py with a `vector(embed_dim)` column and an HNSW index
  (`vector_ip_ops`), one table per model version.
Either way the rule of store.py holds: embeddings of two model versions are never searched
together, and switching version is an explicit re-index.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class SearchFilters(BaseModel):
    """Restrict a search to one site and/or a date range (inclusive); studies without a date
    never match a date range."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={"examples": [{"site": "site_d", "date_from": "2023-01-01"}]},
    )

    site: str | None = Field(None, min_length=1, max_length=64, description="acquiring site")
    date_from: dt.date | None = Field(None, description="earliest study date (inclusive)")
    date_to: dt.date | None = Field(None, description="latest study date (inclusive)")

    @model_validator(mode="after")
    def _ordered(self) -> "SearchFilters":
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        return self


class CaseRecord(BaseModel):
    """One archived study, without its vector. No patient identifier: `study_key` is already
    de-identified (a manifest's study id), `uid_digest` is a keyed hash of the
    StudyInstanceUID that only recognises a re-uploaded study (see store.uid_digest)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    study_key: str = Field(min_length=1, max_length=128)
    site: str | None = Field(None, max_length=64)
    study_date: dt.date | None = None
    impression: str = ""
    uid_digest: str | None = Field(None, max_length=64)


class SearchHit(CaseRecord):
    similarity: float = Field(description="cosine between the query and the study embedding")


class StoredCase(CaseRecord):
    model_version: str
    vector: tuple[float, ...] = Field(description="the unit study embedding")


class CaseArchive(Protocol):
    """A store of study embeddings bound to one model version. Every method may raise
    ArchiveModelMismatchError when the stored embeddings belong to another model."""

    model_version: str
    embed_dim: int

    def check_model(self) -> None:
        """Raise ArchiveModelMismatchError unless the stored embeddings are of model_version:
        a cheap check before work whose result would be searched."""

    def count(self) -> int:
        """Studies searchable now."""

    def add(self, records: Sequence[CaseRecord], vectors: np.ndarray) -> int:
        """Store unit vectors (N, D) and their records in one transaction, skipping study keys
        already present (idempotent). Returns how many were new."""

    def contains(self, study_keys: Iterable[str]) -> set[str]:
        """Which of these study keys are archived already."""

    def search(
        self,
        vector: np.ndarray,
        top_k: int,
        filters: SearchFilters | None = None,
        exclude_uid_digest: str | None = None,
    ) -> list[SearchHit]:
        """The top_k studies most similar to a unit vector (D,), most similar first; a study
        whose uid_digest is `exclude_uid_digest` (the query study itself) is left out."""

    def get(self, study_key: str) -> StoredCase | None:
        """One archived study with its vector, or None."""

    def uid_digest(self, study_instance_uid: str) -> str:
        """The archive's keyed digest of a StudyInstanceUID (never stored or sent in clear)."""

    def close(self) -> None:
        """Release the store; idempotent."""
