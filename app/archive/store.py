"""The embedded case archive: SQLite is the truth, the in-memory snapshot and ANN graph are views.

The file (schema in app/archive/sqlite.py) runs in WAL mode with synchronous=FULL and every
`add` is one transaction, so a crash mid-indexing loses nothing already committed, readers never
see half a batch, and readers in other processes keep searching while an indexer writes. Every
read first loads the rows committed since the last one (row ids only grow; a re-index bumps the
file's `generation`, which forces a full reload).

The ANN graph (`<archive>.usearch`, only past `exact_max` studies) is saved by the writer every
`ann_save_every` new rows and at close, rather than after every batch: a save rewrites the whole
graph, and a graph behind SQLite is merely caught up at the next open. It can always be deleted.
"""

import hashlib
import hmac
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.archive import sqlite as db
from app.archive.ann import AnnIndex, AnnSettings, ann_path
from app.archive.models import CaseRecord, SearchFilters, SearchHit, StoredCase
from app.archive.snapshot import VectorSnapshot
from app.errors import ArchiveModelMismatchError, ArchiveUnavailableError

_UNIT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ArchiveOptions:
    exact_max: int = 10_000  # search exactly up to this many candidates, by ANN beyond
    ann: AnnSettings = field(default_factory=AnnSettings)
    ann_save_every: int = 10_000  # writer: save the graph after this many new rows


class SqliteArchive:
    """A CaseArchive in one SQLite file. Thread-safe; open one per process and share it.

    `open` for reading (the gateway) never writes: a missing file is ArchiveUnavailableError,
    another model's embeddings make every read raise ArchiveModelMismatchError. `create` for
    writing (the indexer) makes the file if needed and refuses another model's embeddings unless
    `reindex`, which deletes them first.
    """

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        model_version: str,
        embed_dim: int,
        writer: bool,
        options: ArchiveOptions,
    ) -> None:
        self.path = path
        self.model_version = model_version
        self.embed_dim = embed_dim
        self._db: sqlite3.Connection | None = connection
        self._writer = writer
        self._options = options
        self._lock = threading.RLock()
        self._snapshot = VectorSnapshot(embed_dim, options.exact_max)
        self._generation = -1
        self._stored_version = ""
        self._salt = b""
        self._saved_max_row_id = 0
        with self._lock:
            self._refresh()

    @classmethod
    def open(
        cls, path: Path, model_version: str, embed_dim: int, options: ArchiveOptions | None = None
    ) -> "SqliteArchive":
        if not path.is_file():
            raise ArchiveUnavailableError(f"no case archive at {path}")
        try:
            connection = db.connect(f"file:{path}?mode=rw", uri=True)
            db.read_meta(connection)
        except sqlite3.Error as exc:
            raise ArchiveUnavailableError(f"{path} is not a readable case archive") from exc
        return cls(path, connection, model_version, embed_dim, False, options or ArchiveOptions())

    @classmethod
    def create(
        cls,
        path: Path,
        model_version: str,
        embed_dim: int,
        options: ArchiveOptions | None = None,
        *,
        reindex: bool = False,
    ) -> "SqliteArchive":
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = db.connect(str(path))
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.executescript(db.SCHEMA)
        with db.transaction(connection):
            db.bind_model(connection, path, model_version, embed_dim, reindex)
        return cls(path, connection, model_version, embed_dim, True, options or ArchiveOptions())

    @property
    def stored_model_version(self) -> str:
        """The model version of the embeddings in the file (may differ from `model_version`)."""
        with self._lock:
            self._refresh()
            return self._stored_version

    def check_model(self) -> None:
        with self._lock:
            self._refresh_matching()

    def count(self) -> int:
        with self._lock:
            self._refresh_matching()
            return self._snapshot.size

    def add(self, records: Sequence[CaseRecord], vectors: np.ndarray) -> int:
        if not self._writer:
            raise PermissionError("this archive was opened for reading; use SqliteArchive.create")
        vectors = _checked_vectors(vectors, len(records), self.embed_dim)
        rows = [
            db.study_row(r, self.model_version, v) for r, v in zip(records, vectors, strict=True)
        ]
        with self._lock:
            self._refresh_matching()
            connection = self._connection()
            before = connection.total_changes
            with db.transaction(connection):
                connection.executemany(db.INSERT_STUDY, rows)
            added = connection.total_changes - before
            self._refresh()
            if self._snapshot.max_row_id - self._saved_max_row_id >= self._options.ann_save_every:
                self._save_ann()
        return added

    def contains(self, study_keys: Iterable[str]) -> set[str]:
        with self._lock:
            self._refresh_matching()
            return db.existing_keys(self._connection(), list(study_keys))

    def search(
        self,
        vector: np.ndarray,
        top_k: int,
        filters: SearchFilters | None = None,
        exclude_uid_digest: str | None = None,
    ) -> list[SearchHit]:
        query = _checked_vectors(vector[None], 1, self.embed_dim)[0]
        with self._lock:
            self._refresh_matching()
            connection = self._connection()
            excluded = (
                db.row_ids_of_uid(connection, exclude_uid_digest)
                if exclude_uid_digest is not None
                else np.zeros(0, np.int64)
            )
            row_ids, similarity = self._snapshot.nearest(query, top_k, filters, excluded)
            records = db.records_by_row_id(connection, row_ids.tolist())
        return [
            SearchHit(**records[row_id].model_dump(), similarity=float(sim))
            for row_id, sim in zip(row_ids.tolist(), similarity, strict=True)
        ]

    def get(self, study_key: str) -> StoredCase | None:
        with self._lock:
            self._refresh_matching()
            return db.stored_case(self._connection(), study_key)

    def uid_digest(self, study_instance_uid: str) -> str:
        """HMAC-SHA256 of the UID under this archive's random salt, 32 hex digits: the same
        study uploaded twice gets the same digest, and without the file nobody can link a
        digest to a UID."""
        digest = hmac.new(self._salt, study_instance_uid.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def close(self) -> None:
        with self._lock:
            if self._db is None:
                return
            if self._writer and self._snapshot.max_row_id > self._saved_max_row_id:
                self._save_ann()
            self._db.close()
            self._db = None

    # --- internals (call with the lock held) ----------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise ArchiveUnavailableError(f"the case archive {self.path} is closed")
        return self._db

    def _refresh(self) -> None:
        """Load what any connection committed since the last call, in one read snapshot."""
        connection = self._connection()
        with db.transaction(connection, "BEGIN"):
            meta = db.read_meta(connection)
            generation = int(meta.get("generation", 0))
            if generation != self._generation:
                self._generation = generation
                self._stored_version = meta.get("model_version", "")
                self._salt = bytes.fromhex(meta.get("key_salt", ""))
                self._snapshot = VectorSnapshot(self.embed_dim, self._options.exact_max)
                self._saved_max_row_id = 0
            if self._stored_version != self.model_version:
                return
            rows = db.rows_after(connection, self._snapshot.max_row_id, self.embed_dim)
        self._snapshot.append(rows)
        if self._snapshot.needs_ann:
            self._attach_graph()

    def _refresh_matching(self) -> None:
        self._refresh()
        if self._stored_version != self.model_version:
            raise ArchiveModelMismatchError(
                f"the case archive holds embeddings of model {self._stored_version!r}, the "
                f"gateway serves {self.model_version!r}: re-index it "
                "(python -m app.archive index --reindex)"
            )

    def _attach_graph(self) -> None:
        """Give the snapshot its ANN graph: the saved one, caught up, when it belongs to this
        file's generation and model and holds no row the snapshot lacks; else a new one."""
        snapshot = self._snapshot
        loaded = AnnIndex.load(
            ann_path(self.path),
            self.embed_dim,
            self._options.ann,
            self._generation,
            self.model_version,
        )
        if loaded is not None and loaded[1].max_row_id <= snapshot.max_row_id:
            graph, state = loaded
            snapshot.attach_ann(graph, state.max_row_id)
            self._saved_max_row_id = state.max_row_id
        else:
            snapshot.attach_ann(AnnIndex(self.embed_dim, self._options.ann), max_row_id=0)

    def _save_ann(self) -> None:
        graph = self._snapshot.ann
        if graph is None:
            return
        max_row_id = self._snapshot.max_row_id
        graph.save(
            ann_path(self.path), graph.state(self._generation, self.model_version, max_row_id)
        )
        self._saved_max_row_id = max_row_id


def _checked_vectors(vectors: np.ndarray, n: int, dim: int) -> np.ndarray:
    """float32 (n, dim) unit vectors, or ValueError."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape != (n, dim):
        raise ValueError(f"expected vectors of shape {(n, dim)}, got {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1)
    if not np.all(np.isfinite(norms)) or np.any(np.abs(norms - 1) > _UNIT_TOLERANCE):
        raise ValueError("archive vectors must be finite unit vectors")
    return np.ascontiguousarray(vectors)
