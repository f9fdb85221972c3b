"""What an archive file holds, read without loading a model (`python -m app.archive stats`)."""

import sqlite3
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from app.archive.ann import ann_path
from app.errors import ArchiveUnavailableError


class ArchiveStats(BaseModel):
    model_config = ConfigDict(frozen=True, protected_namespaces=())

    path: str
    model_version: str | None
    embed_dim: int | None
    generation: int
    studies: int
    per_site: dict[str, int]
    dated: int
    first_date: str | None
    last_date: str | None
    file_bytes: int
    ann_index: bool


def archive_stats(path: Path) -> ArchiveStats:
    """Raises ArchiveUnavailableError if there is no readable archive at `path`."""
    if not path.is_file():
        raise ArchiveUnavailableError(f"no case archive at {path}")
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            per_site = dict(
                db.execute("SELECT COALESCE(site, '(unknown)'), COUNT(*) FROM studies GROUP BY 1")
            )
            dated, first, last = db.execute(
                "SELECT COUNT(study_date), MIN(study_date), MAX(study_date) FROM studies"
            ).fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise ArchiveUnavailableError(f"{path} is not a readable case archive") from exc
    return ArchiveStats(
        path=str(path),
        model_version=meta.get("model_version"),
        embed_dim=int(meta["embed_dim"]) if "embed_dim" in meta else None,
        generation=int(meta.get("generation", 0)),
        studies=sum(per_site.values()),
        per_site=per_site,
        dated=dated,
        first_date=first,
        last_date=last,
        file_bytes=path.stat().st_size,
        ann_index=ann_path(path).is_file(),
    )
