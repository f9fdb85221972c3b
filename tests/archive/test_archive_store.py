"""The SQLite case archive: add, search, filters, idempotency, restart, crash, model versions,
and readers that stay consistent while a writer commits."""

import datetime as dt
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from archive_helpers import DIM, MODEL, create, records, unit_vectors

from app.archive.models import SearchFilters
from app.archive.stats import archive_stats
from app.archive.store import SqliteArchive
from app.errors import ArchiveModelMismatchError, ArchiveUnavailableError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[SqliteArchive]:
    archive = create(tmp_path / "a.sqlite")
    archive.add(records(0, 40), unit_vectors(40))
    yield archive
    archive.close()


def test_a_stored_study_is_its_own_nearest_neighbour(archive: SqliteArchive) -> None:
    vectors = unit_vectors(40)
    hits = archive.search(vectors[7], top_k=5)
    assert hits[0].study_key == "key-0007"
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert hits[0].impression == "impression of key-0007" and hits[0].site == "site_e"
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    expected = np.argsort(-(vectors @ vectors[7]))[:5]
    assert [h.study_key for h in hits] == [f"key-{i:04d}" for i in expected]
    stored = archive.get("key-0007")
    assert stored is not None and stored.model_version == MODEL
    np.testing.assert_allclose(stored.vector, vectors[7])
    assert archive.get("missing") is None


def test_adding_is_idempotent_by_study_key(archive: SqliteArchive) -> None:
    assert archive.add(records(0, 40), unit_vectors(40)) == 0
    assert archive.add(records(30, 20), unit_vectors(20, seed=3)) == 10
    assert archive.count() == 50
    assert archive.contains(["key-0001", "key-0049", "key-0050"]) == {"key-0001", "key-0049"}
    np.testing.assert_allclose(archive.get("key-0031").vector, unit_vectors(40)[31])


def test_filters_by_site_and_date(archive: SqliteArchive) -> None:
    query = unit_vectors(1, seed=9)[0]
    by_site = archive.search(query, 40, SearchFilters(site="site_d"))
    assert len(by_site) == 20 and {h.site for h in by_site} == {"site_d"}
    start = dt.date(2024, 1, 11)
    dated = archive.search(query, 40, SearchFilters(date_from=start, date_to=start.replace(day=20)))
    assert sorted(h.study_key for h in dated) == [f"key-{i:04d}" for i in range(10, 20, 2)]
    assert archive.search(query, 40, SearchFilters(site="site_x")) == []
    with pytest.raises(ValueError, match="date_from is after date_to"):
        SearchFilters(date_from=start, date_to=start - dt.timedelta(days=1))


def test_the_query_study_itself_is_excluded_by_its_uid_digest(archive: SqliteArchive) -> None:
    hits = archive.search(unit_vectors(40)[3], 5, exclude_uid_digest="uid-0003")
    assert "key-0003" not in [h.study_key for h in hits] and len(hits) == 5


def test_uid_digests_are_keyed_per_archive_and_survive_restart(tmp_path: Path) -> None:
    first, second = create(tmp_path / "1.sqlite"), create(tmp_path / "2.sqlite")
    digest = first.uid_digest("1.2.3.4")
    assert digest != second.uid_digest("1.2.3.4") and "1.2.3.4" not in digest
    first.close()
    second.close()
    assert SqliteArchive.open(tmp_path / "1.sqlite", MODEL, DIM).uid_digest("1.2.3.4") == digest


def test_restart_keeps_every_study(archive: SqliteArchive, tmp_path: Path) -> None:
    query = unit_vectors(1, seed=5)[0]
    before = archive.search(query, 10)
    archive.close()
    reopened = SqliteArchive.open(tmp_path / "a.sqlite", MODEL, DIM)
    assert reopened.count() == 40 and reopened.search(query, 10) == before
    with pytest.raises(PermissionError):
        reopened.add(records(40, 1), unit_vectors(1))


def test_an_indexing_run_killed_midway_loses_no_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    script = (
        "import os, signal, sys\n"
        f"sys.path[:0] = [{str(PROJECT_ROOT)!r}, {str(Path(__file__).parent)!r}]\n"
        "from pathlib import Path\n"
        "from archive_helpers import create, records, unit_vectors\n"
        f"archive = create(Path({str(path)!r}))\n"
        "for batch in range(3):\n"
        "    archive.add(records(8 * batch, 8), unit_vectors(24)[8 * batch : 8 * batch + 8])\n"
        "os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL
    resumed = create(path)
    assert resumed.count() == 24
    assert resumed.add(records(0, 40), unit_vectors(40)[:40]) == 16  # the rerun adds the rest
    assert resumed.search(unit_vectors(40)[5], 1)[0].study_key == "key-0005"
    resumed.close()


def test_embeddings_of_two_model_versions_are_never_mixed(
    archive: SqliteArchive, tmp_path: Path
) -> None:
    path = tmp_path / "a.sqlite"
    with pytest.raises(ArchiveModelMismatchError, match="--reindex"):
        create(path, version="test-model-2")
    newer_gateway = SqliteArchive.open(path, "test-model-2", DIM)
    assert newer_gateway.stored_model_version == MODEL
    with pytest.raises(ArchiveModelMismatchError):
        newer_gateway.search(unit_vectors(1)[0], 3)
    reindexed = SqliteArchive.create(path, "test-model-2", DIM, reindex=True)
    assert reindexed.count() == 0 and newer_gateway.count() == 0
    with pytest.raises(ArchiveModelMismatchError):  # the old model's reader now refuses
        archive.search(unit_vectors(1)[0], 3)
    reindexed.add(records(0, 2), unit_vectors(2))
    assert [h.study_key for h in newer_gateway.search(unit_vectors(2)[1], 1)] == ["key-0001"]
    reindexed.close()
    newer_gateway.close()


def test_missing_or_foreign_files_are_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ArchiveUnavailableError):
        SqliteArchive.open(tmp_path / "none.sqlite", MODEL, DIM)
    (tmp_path / "junk.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(ArchiveUnavailableError):
        SqliteArchive.open(tmp_path / "junk.sqlite", MODEL, DIM)


def test_vectors_must_be_unit_and_of_the_archive_dimension(archive: SqliteArchive) -> None:
    with pytest.raises(ValueError, match="shape"):
        archive.add(records(50, 1), unit_vectors(1, dim=DIM + 1))
    with pytest.raises(ValueError, match="unit"):
        archive.add(records(50, 1), 2 * unit_vectors(1))


def test_stats_read_the_file_without_a_model(archive: SqliteArchive, tmp_path: Path) -> None:
    stats = archive_stats(tmp_path / "a.sqlite")
    assert (stats.model_version, stats.embed_dim, stats.studies) == (MODEL, DIM, 40)
    assert stats.per_site == {"site_d": 20, "site_e": 20} and stats.dated == 20


def test_readers_see_whole_batches_while_a_writer_commits(tmp_path: Path) -> None:
    """Another connection (as another process would) and the writer's own instance search
    while batches of 8 are committed: every answer holds whole batches of stored rows."""
    path = tmp_path / "busy.sqlite"
    writer = create(path)
    reader = SqliteArchive.open(path, MODEL, DIM)
    vectors = unit_vectors(240, seed=2)
    query = unit_vectors(1, seed=8)[0]
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for batch in range(30):
                rows = slice(8 * batch, 8 * batch + 8)
                writer.add(records(8 * batch, 8), vectors[rows])
        finally:
            done.set()

    def check(archive: SqliteArchive) -> None:
        try:
            while not done.is_set():
                hits = archive.search(query, 240)
                seen.append(len(hits))
                assert len(hits) % 8 == 0
                for hit in hits:
                    index = int(hit.study_key.removeprefix("key-"))
                    assert hit.impression == f"impression of {hit.study_key}"
                    assert hit.similarity == pytest.approx(float(vectors[index] @ query), abs=1e-5)
        except BaseException as exc:  # reported below, from the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=f, args=a) for f, a in ((write, ()), (check, (reader,)))]
    threads.append(threading.Thread(target=check, args=(writer,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[0]
    assert len(set(seen)) > 2, "the readers never overlapped the writes"
    assert reader.count() == writer.count() == 240
    writer.close()
    reader.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
