"""Blocking steps of a study before the encoder: uploads -> CineStudy -> ModelInput (the one
preprocessing function, shared with training), and what each step took."""

import time
from dataclasses import dataclass, field

from app.config import IngestLimits
from app.dicom.evidence import StudyEvidence
from app.dicom.ingest import load_datasets, load_study
from app.dicom.sources import Upload
from app.dicom.study import CineStudy, StudyOutline
from app.dicomweb.models import DicomwebSource
from app.dicomweb.retrieve import StudyRetrieval
from app.model_card import ModelCard
from app.preprocess.pipeline import ModelInput, preprocess_study


@dataclass
class PreparedStudy:
    """An ingested and preprocessed study and what it took. It holds the model's input and the
    study's outline, not the full-resolution cine; patient identifiers only in `evidence`, for
    the DICOM SR of the result."""

    outline: StudyOutline
    model_input: ModelInput
    timings_ms: dict[str, float] = field(default_factory=dict)
    evidence: StudyEvidence | None = None


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a time.perf_counter() value), rounded to 0.01 ms."""
    return round((time.perf_counter() - started) * 1000, 2)


def prepare_study(uploads: list[Upload], card: ModelCard, limits: IngestLimits) -> PreparedStudy:
    """Blocking: uploads -> CineStudy -> ModelInput. Raises the data layer's CmrErrors."""
    started = time.perf_counter()
    study = load_study(uploads, limits)
    return preprocessed(study, card, elapsed_ms(started))


def prepare_referenced_study(
    source: DicomwebSource, study_instance_uid: str, card: ModelCard, limits: IngestLimits
) -> PreparedStudy:
    """Blocking: a study in a DICOMweb source -> its cine series (chosen on headers, then
    retrieved: `receive`) -> CineStudy -> ModelInput. Raises StudyNotFoundError, the DICOMweb
    errors and the data layer's CmrErrors."""
    started = time.perf_counter()
    retrieval = StudyRetrieval(source, study_instance_uid, limits)
    datasets = list(retrieval.instances(retrieval.cine_series()))
    receive_ms = elapsed_ms(started)
    started = time.perf_counter()
    study = load_datasets(datasets, limits)
    del datasets
    prepared = preprocessed(study, card, elapsed_ms(started))
    prepared.timings_ms = {"receive": receive_ms, **prepared.timings_ms}
    return prepared


def preprocessed(study: CineStudy, card: ModelCard, parse_ms: float) -> PreparedStudy:
    """Blocking: the model input and outline of an ingested study that took `parse_ms`.

    The study's full-resolution pixels (about 80 MB for 12 slices x 25 phases) go with the
    caller's reference, in its worker thread: a request waiting for the encoder holds only the
    model input, and the event loop never frees them."""
    started = time.perf_counter()
    model_input = preprocess_study(study, card.input_spec)
    timings_ms = {"parse": parse_ms, "preprocess": elapsed_ms(started)}
    return PreparedStudy(study.outline(), model_input, timings_ms, study.evidence)
