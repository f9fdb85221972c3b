"""The archive's SQLite file: schema, connections, transactions and row conversions.

`studies` holds one row per study (key, model version, site, date, impression, uid digest, unit
vector as float32 bytes); `meta` holds the model version and embed dim the file is bound to, the
salt of its uid digests and a `generation` bumped by every re-index.
"""

import datetime as dt
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from app.archive.models import CaseRecord, StoredCase
from app.archive.snapshot import Rows
from app.errors import ArchiveModelMismatchError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    row_id INTEGER PRIMARY KEY,
    study_key TEXT NOT NULL UNIQUE,
    model_version TEXT NOT NULL,
    site TEXT,
    study_date TEXT,
    impression TEXT NOT NULL,
    uid_digest TEXT,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS studies_uid_digest ON studies (uid_digest);
"""
RECORD_COLUMNS = "study_key, site, study_date, impression, uid_digest"
INSERT_STUDY = (
    f"INSERT INTO studies ({RECORD_COLUMNS}, model_version, vector) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (study_key) DO NOTHING"
)
SQL_CHUNK = 500  # bound parameters per IN (...) query


def connect(database: str, uri: bool = False) -> sqlite3.Connection:
    """Autocommit connection (transactions are explicit), shareable across threads under the
    caller's lock, waiting up to 30 s for another process's write lock."""
    connection = sqlite3.connect(
        database, uri=uri, timeout=30, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


@contextmanager
def transaction(db: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    db.execute(begin)
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def read_meta(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM meta"))


def bind_model(
    db: sqlite3.Connection, path: Path, model_version: str, embed_dim: int, reindex: bool
) -> None:
    """Inside a write transaction: bind a new file to the model, keep a file of this model,
    and refuse another model's file unless `reindex` (which deletes its studies)."""
    meta = read_meta(db)
    stored = meta.get("model_version")
    if stored is not None and stored != model_version and not reindex:
        raise ArchiveModelMismatchError(
            f"{path} holds embeddings of model {stored!r}, not {model_version!r}; embeddings "
            "of two models are never mixed: re-index explicitly with --reindex"
        )
    if stored == model_version and int(meta["embed_dim"]) != embed_dim:
        raise ArchiveModelMismatchError(
            f"{path}: model {stored!r} stored with dimension {meta['embed_dim']}, not {embed_dim}"
        )
    if stored == model_version and not reindex:
        return
    db.execute("DELETE FROM studies")
    updates = {
        "schema_version": "1",
        "model_version": model_version,
        "embed_dim": str(embed_dim),
        "key_salt": meta.get("key_salt") or secrets.token_hex(16),
        "generation": str(int(meta.get("generation", 0)) + 1),
    }
    db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", updates.items())


def study_row(record: CaseRecord, model_version: str, vector: np.ndarray) -> tuple:
    """The INSERT_STUDY parameters of one study."""
    study_date = record.study_date.isoformat() if record.study_date else None
    return (
        record.study_key,
        record.site,
        study_date,
        record.impression,
        record.uid_digest,
        model_version,
        vector.astype(np.float32).tobytes(),
    )


def to_record(row: Sequence) -> CaseRecord:
    """A CaseRecord from the RECORD_COLUMNS of a row."""
    key, site, study_date, impression, uid_digest = row
    return CaseRecord(
        study_key=key,
        site=site,
        study_date=dt.date.fromisoformat(study_date) if study_date else None,
        impression=impression,
        uid_digest=uid_digest,
    )


def rows_after(db: sqlite3.Connection, max_row_id: int, dim: int) -> Rows:
    """The searchable columns of every row with row_id > max_row_id, in row-id order."""
    fetched = db.execute(
        "SELECT row_id, site, study_date, vector FROM studies WHERE row_id > ? ORDER BY row_id",
        (max_row_id,),
    ).fetchall()
    vectors = np.frombuffer(b"".join(r[3] for r in fetched), np.float32)
    return Rows(
        row_ids=np.array([r[0] for r in fetched], np.int64),
        vectors=vectors.reshape(len(fetched), dim),
        sites=[r[1] for r in fetched],
        dates=[dt.date.fromisoformat(r[2]) if r[2] else None for r in fetched],
    )


def records_by_row_id(db: sqlite3.Connection, row_ids: list[int]) -> dict[int, CaseRecord]:
    records: dict[int, CaseRecord] = {}
    for start in range(0, len(row_ids), SQL_CHUNK):
        chunk = row_ids[start : start + SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        query = f"SELECT row_id, {RECORD_COLUMNS} FROM studies WHERE row_id IN ({marks})"
        records.update((row[0], to_record(row[1:])) for row in db.execute(query, chunk))
    return records


def existing_keys(db: sqlite3.Connection, study_keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(study_keys), SQL_CHUNK):
        chunk = study_keys[start : start + SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        query = f"SELECT study_key FROM studies WHERE study_key IN ({marks})"
        found.update(key for (key,) in db.execute(query, chunk))
    return found


def row_ids_of_uid(db: sqlite3.Connection, uid_digest: str) -> np.ndarray:
    rows = db.execute("SELECT row_id FROM studies WHERE uid_digest = ?", (uid_digest,))
    return np.array([row_id for (row_id,) in rows], np.int64)


def stored_case(db: sqlite3.Connection, study_key: str) -> StoredCase | None:
    row = db.execute(
        f"SELECT {RECORD_COLUMNS}, model_version, vector FROM studies WHERE study_key = ?",
        (study_key,),
    ).fetchone()
    if row is None:
        return None
    return StoredCase(
        **to_record(row[:5]).model_dump(),
        model_version=row[5],
        vector=tuple(np.frombuffer(row[6], np.float32).tolist()),
    )
