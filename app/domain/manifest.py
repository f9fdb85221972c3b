"""The manifest of a study collection (manifest.csv): one row per study, read by training, the
archive and the montage, written by the generator; a hospital writes its own.

Columns: study_id, study_dir (relative to the manifest's folder) and impression are required;
site, study_date, external, primary_diagnosis, label_<condition> (0/1, for evaluation) and
fold (a cross-validation fold, by subject) are optional.
"""

import csv
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.csv"
REQUIRED_COLUMNS = ("study_id", "study_dir", "impression")
LABEL_PREFIX = "label_"


def read_manifest(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_manifest(path: Path, rows: list[dict[str, Any]]) -> None:
    """Merge rows into the manifest by study_id (re-running a site replaces its rows)."""
    merged: dict[str, dict[str, Any]] = {row["study_id"]: row for row in read_manifest(path)}
    merged.update({str(row["study_id"]): row for row in rows})
    ordered = sorted(merged.values(), key=lambda row: str(row["study_id"]))
    fields = list(rows[0]) if rows else list(ordered[0])
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(ordered)
    tmp.replace(path)
