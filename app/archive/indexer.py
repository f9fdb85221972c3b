"""Manifest -> archive: ingest each study, encode batches through the serving backend, commit.

The studies go through exactly what the API does with an upload (app.dicom ingestion, the one
preprocessing function, `pipeline.backend.encode_video`), so an archived vector and a query vector
are the same function of the same pixels. Every batch is one archive transaction: an interrupted
run resumes where it stopped, because study keys already archived are skipped.
"""

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from tqdm import tqdm

from app.archive.models import CaseArchive, CaseRecord
from app.dicom.ingest import load_study
from app.domain.manifest import LABEL_PREFIX, REQUIRED_COLUMNS, read_manifest
from app.errors import CmrError
from app.inference.backend import VideoBatch
from app.pipeline.prepare import PreparedStudy
from app.pipeline.service import Pipeline
from app.preprocess.pipeline import preprocess_study

log = logging.getLogger("app.archive")


@dataclass(frozen=True)
class ManifestStudy:
    """One manifest row: the record to archive (no uid digest yet), where its DICOM files are,
    and its ground-truth labels (label_<condition> columns) for the evaluation."""

    record: CaseRecord
    study_dir: Path
    labels: dict[str, bool]


@dataclass
class IndexReport:
    indexed: int = 0
    already: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # study key -> error code


def read_manifest_studies(manifest: Path) -> list[ManifestStudy]:
    """Rows of a manifest.csv (columns study_id, site, study_dir, impression, label_*, and
    optionally study_date); study_dir is relative to the manifest's folder. Raises
    FileNotFoundError or ValueError (missing columns)."""
    if not manifest.is_file():
        raise FileNotFoundError(f"no manifest at {manifest}")
    rows = read_manifest(manifest)
    missing = set(REQUIRED_COLUMNS) - set(rows[0] if rows else ())
    if missing:
        raise ValueError(f"{manifest} lacks columns {sorted(missing)}")
    studies = []
    for row in rows:
        study_date = row.get("study_date") or None
        studies.append(
            ManifestStudy(
                record=CaseRecord(
                    study_key=row["study_id"],
                    site=row.get("site") or None,
                    study_date=dt.date.fromisoformat(study_date) if study_date else None,
                    impression=row["impression"],
                ),
                study_dir=manifest.parent / row["study_dir"],
                labels={
                    name.removeprefix(LABEL_PREFIX): value == "1"
                    for name, value in row.items()
                    if name.startswith(LABEL_PREFIX)
                },
            )
        )
    return studies


def dicom_study_date(study_dir: Path) -> dt.date | None:
    """StudyDate of the first readable DICOM file under study_dir (header only), or None. Used
    when the manifest has no study_date column."""
    for path in sorted(study_dir.rglob("*")):
        if not path.is_file():
            continue
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyDate"])
        except (InvalidDicomError, OSError):
            continue
        value = str(header.get("StudyDate", "") or "")
        try:
            return dt.datetime.strptime(value, "%Y%m%d").date()
        except ValueError:
            return None
    return None


def _prepare(pipeline: Pipeline, study: ManifestStudy) -> tuple[PreparedStudy, CaseRecord]:
    """Blocking: ingest and preprocess one study folder; its record gets the study date."""
    cine = load_study(study.study_dir, pipeline.limits)
    prepared = PreparedStudy(cine.outline(), preprocess_study(cine, pipeline.card.input_spec))
    record = study.record
    if record.study_date is None:
        record = record.model_copy(update={"study_date": dicom_study_date(study.study_dir)})
    return prepared, record


async def index_studies(
    pipeline: Pipeline,
    archive: CaseArchive,
    studies: Sequence[ManifestStudy],
    batch_size: int = 8,
    progress: bool = True,
) -> IndexReport:
    """Archive every study not archived yet, `batch_size` at a time (one transaction each).
    A study that cannot be read or ingested is logged, reported and skipped; backend errors
    propagate."""
    report = IndexReport()
    done = archive.contains(s.record.study_key for s in studies)
    pending = [s for s in studies if s.record.study_key not in done]
    report.already = len(studies) - len(pending)
    bar = tqdm(total=len(studies), initial=report.already, unit="study", disable=not progress)
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        results = await asyncio.gather(
            *(asyncio.to_thread(_prepare, pipeline, s) for s in batch), return_exceptions=True
        )
        ready: list[tuple[PreparedStudy, CaseRecord]] = []
        for study, result in zip(batch, results, strict=True):
            if isinstance(result, CmrError | OSError):
                code = result.code if isinstance(result, CmrError) else "unreadable_study_dir"
                report.failed[study.record.study_key] = code
                log.warning(
                    "study not archived",
                    extra={"study_key": study.record.study_key, "code": code},
                )
            elif isinstance(result, BaseException):
                raise result
            else:
                ready.append(result)
        if ready:
            report.indexed += await _encode_and_add(pipeline, archive, ready)
        bar.update(len(batch))
    bar.close()
    return report


async def _encode_and_add(
    pipeline: Pipeline, archive: CaseArchive, ready: list[tuple[PreparedStudy, CaseRecord]]
) -> int:
    inputs = [prepared.model_input for prepared, _ in ready]
    batch = VideoBatch(
        sax=np.stack([i.sax for i in inputs]).astype(np.float32),  # (B, S, T, H, W)
        lax=np.stack([i.lax for i in inputs]).astype(np.float32),  # (B, V, T, H, W)
        lax_present=np.stack([i.lax_present for i in inputs]).astype(np.float32),  # (B, V)
    )
    embeddings = await pipeline.backend.encode_video(batch, request_id="archive-index")
    records = [
        record.model_copy(
            update={"uid_digest": archive.uid_digest(prepared.outline.study_instance_uid)}
        )
        for prepared, record in ready
    ]
    return archive.add(records, embeddings.study)
