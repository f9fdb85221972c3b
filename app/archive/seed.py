"""Seeding a deployment's archive volume from the archive shipped in the image (the
Kubernetes init step, k8s/base/gateway/deployment.yaml)."""

import sqlite3
from pathlib import Path


def seed_archive(source: Path, target: Path) -> bool:
    """Copy the archive `source` to `target` unless `target` exists (an archive put on the
    volume, or seeded before, is never overwritten). Copied with SQLite's backup API into a
    temporary file renamed at the end, so a crash never leaves half an archive. -> copied?"""
    if target.exists():
        return False
    if not source.is_file():
        raise FileNotFoundError(f"no archive at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with (
        sqlite3.connect(f"file:{source}?mode=ro", uri=True) as reader,
        sqlite3.connect(partial) as writer,
    ):
        reader.backup(writer)
    reader.close()
    writer.close()
    partial.rename(target)
    return True
