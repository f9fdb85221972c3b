"""Helpers of the archive tests (imported by name: tests/archive is on sys.path)."""

import datetime as dt
from pathlib import Path

import numpy as np

from app.archive.models import CaseRecord, SearchHit
from app.archive.store import ArchiveOptions, SqliteArchive
from app.zeroshot.condition_sets import load_condition_sets
from app.zeroshot.scoring_sets import ConditionScore

MODEL = "test-model-1"
DIM = 16
SITES = ("site_d", "site_e")


def unit_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def records(start: int, n: int) -> list[CaseRecord]:
    """Studies key-0000..: alternating sites, a date every other study (the rest undated),
    the key in the impression so a hit can be checked against what was stored."""
    return [
        CaseRecord(
            study_key=f"key-{i:04d}",
            site=SITES[i % 2],
            study_date=dt.date(2024, 1, 1) + dt.timedelta(days=i) if i % 2 == 0 else None,
            impression=f"impression of key-{i:04d}",
            uid_digest=f"uid-{i:04d}",
        )
        for i in range(start, start + n)
    ]


def create(path: Path, version: str = MODEL, dim: int = DIM, **options: int) -> SqliteArchive:
    return SqliteArchive.create(path, version, dim, ArchiveOptions(**options))


LABELS = load_condition_sets()["cardiac_findings_v1"].labels
THRESHOLD = 0.5


def scores(
    present: set[str], probabilities: dict[str, float] | None = None
) -> list[ConditionScore]:
    """Findings-mode scores of every finding: 0.9 when present, 0.1 otherwise, unless
    `probabilities` says; threshold 0.5."""
    probabilities = probabilities or {}
    return [
        ConditionScore(
            label=label,
            probability=probabilities.get(label, 0.9 if label in present else 0.1),
            similarity=0.0,
            rank=rank,
            threshold=THRESHOLD,
        )
        for rank, label in enumerate(LABELS, start=1)
    ]


def hit(key: str, impression: str, similarity: float = 0.9) -> SearchHit:
    return SearchHit(study_key=key, impression=impression, similarity=similarity)
