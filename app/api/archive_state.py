"""The gateway's case archive: opened once at startup, checked on every request that uses it.

A missing archive or one built with another model version never stops the gateway: diagnosis
and embeddings keep working, and the archive routes answer 503 `archive_unavailable` or 409
`archive_model_mismatch` until the archive is built or re-indexed.
"""

import logging
from typing import Annotated

from fastapi import Depends, Request

from app.archive.models import CaseArchive
from app.archive.store import ArchiveOptions, SqliteArchive
from app.config import ServingSettings
from app.errors import ArchiveUnavailableError
from app.model_card import ModelCard

log = logging.getLogger("app.api")


def open_archive(settings: ServingSettings, card: ModelCard) -> SqliteArchive | None:
    """Blocking (loads every vector): call off the event loop."""
    if settings.archive_path is None:
        log.info("no case archive configured (CMR_ARCHIVE_PATH)")
        return None
    try:
        archive = SqliteArchive.open(
            settings.archive_path,
            card.version,
            card.embed_dim,
            ArchiveOptions(exact_max=settings.archive_exact_max),
        )
    except ArchiveUnavailableError as exc:
        log.warning("case archive unavailable", extra={"code": exc.code})
        return None
    stored = archive.stored_model_version
    if stored != card.version:
        log.warning(
            "case archive built with another model: archive routes answer 409 until re-indexed",
            extra={"archive_model_version": stored, "model_version": card.version},
        )
    else:
        log.info("case archive", extra={"studies": archive.count(), "model_version": stored})
    return archive


def usable_archive(archive: CaseArchive | None) -> CaseArchive:
    """The gateway's archive; raises ArchiveUnavailableError (none) or
    ArchiveModelMismatchError (another model's)."""
    if archive is None:
        raise ArchiveUnavailableError("no case archive is available on this gateway")
    archive.check_model()
    return archive


def _archive(request: Request) -> CaseArchive:
    return usable_archive(getattr(request.app.state, "archive", None))


ArchiveDep = Annotated[CaseArchive, Depends(_archive)]
