"""From a manifest of (study, impression) to cached model input: the same ingestion and
preprocessing the gateway runs, computed once per study and kept on disk keyed by content."""

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.acdc.subject import load_subject_study
from app.dicom.ingest import load_study
from app.dicom.study import CineStudy
from app.domain.manifest import LABEL_PREFIX, read_manifest
from app.preprocess import InputSpec, preprocess_study


@dataclass(frozen=True)
class StudyRecord:
    """One manifest row. Hospital manifests need study_id, study_dir, impression; site,
    external and label_* columns are optional (labels are used for evaluation only)."""

    study_id: str
    study_dir: Path
    impression: str
    site: str = ""
    external: bool = False
    labels: dict[str, int] = field(default_factory=dict)
    primary_diagnosis: str = ""
    fold: int | None = None  # cross-validation fold, where the manifest assigns one


def read_records(manifest: Path) -> list[StudyRecord]:
    root = manifest.parent
    prefix = len(LABEL_PREFIX)
    return [
        StudyRecord(
            study_id=row["study_id"],
            study_dir=(root / row["study_dir"]).resolve(),
            impression=row["impression"],
            site=row.get("site", ""),
            external=row.get("external", "0") in ("1", "true", "True"),
            labels={k[prefix:]: int(v) for k, v in row.items() if k.startswith(LABEL_PREFIX) and v},
            primary_diagnosis=row.get("primary_diagnosis", ""),
            fold=int(row["fold"]) if row.get("fold") else None,
        )
        for row in read_manifest(manifest)
    ]


def read_all_records(manifests: Sequence[Path]) -> list[StudyRecord]:
    """The records of several manifests, in order. Raises ValueError on a repeated study id."""
    records = [record for manifest in manifests for record in read_records(manifest)]
    seen: set[str] = set()
    for record in records:
        if record.study_id in seen:
            raise ValueError(f"study {record.study_id} is in more than one manifest row")
        seen.add(record.study_id)
    return records


def load_any_study(study_dir: Path) -> CineStudy:
    """A study folder of DICOM files, or a labelled NIfTI subject folder (ACDC: Info.cfg)."""
    if (study_dir / "Info.cfg").is_file():
        return load_subject_study(study_dir)
    return load_study(study_dir)


def split_of(
    record: StudyRecord, val_fraction: float, test_fraction: float, test_fold: int | None = None
) -> str:
    """'train' / 'val' / 'test'. A record with a fold is in 'test' exactly when its fold is
    `test_fold`; the others split by a hash of the id (stable however the manifest grows),
    folded records into 'train' / 'val' only."""
    u = int(hashlib.sha256(record.study_id.encode()).hexdigest()[:8], 16) / 16**8
    if record.fold is not None and test_fold is not None:
        if record.fold == test_fold:
            return "test"
        return "val" if u < val_fraction else "train"
    if u < test_fraction:
        return "test"
    return "val" if u < test_fraction + val_fraction else "train"


def content_key(study_dir: Path, spec: InputSpec) -> str:
    """sha256 of every file's bytes (sorted by relative path) and of the input spec."""
    digest = hashlib.sha256(spec.model_dump_json().encode())
    for path in sorted(p for p in study_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(study_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedInput:
    sax: np.ndarray  # float16 (S, T, H, W)
    lax: np.ndarray  # float16 (V, T, H, W)
    lax_present: np.ndarray  # bool (V,)


class StudyCache:
    """Preprocessed studies as .npz files under cache_dir/<content key>.npz."""

    def __init__(self, cache_dir: Path, spec: InputSpec):
        self.cache_dir = cache_dir
        self.spec = spec
        cache_dir.mkdir(parents=True, exist_ok=True)

    def path(self, record: StudyRecord) -> Path:
        return self.cache_dir / f"{content_key(record.study_dir, self.spec)}.npz"

    def load(self, record: StudyRecord) -> CachedInput:
        path = self.path(record)
        if not path.exists():
            model_input = preprocess_study(load_any_study(record.study_dir), self.spec)
            # per-process temporary name: DDP ranks (or a second trainer) may fill one cache
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(
                tmp,
                sax=model_input.sax.astype(np.float16),
                lax=model_input.lax.astype(np.float16),
                lax_present=model_input.lax_present,
            )
            tmp.replace(path)
        with np.load(path) as stored:
            return CachedInput(stored["sax"], stored["lax"], stored["lax_present"])

    def warm(self, records: Sequence[StudyRecord], workers: int) -> list[CachedInput]:
        """Preprocess every record (in parallel) and return them in order."""
        if workers <= 1:
            return [self.load(r) for r in tqdm(records, desc="preprocess", unit="study")]
        with ProcessPoolExecutor(workers) as pool:
            return list(
                tqdm(
                    pool.map(self.load, records, chunksize=4),
                    total=len(records),
                    desc="preprocess",
                    unit="study",
                )
            )
