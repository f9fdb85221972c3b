"""Ingestion writes no header value to logs or warnings: the real study's patient id and its
invalid birth date ("00000000") appear nowhere, and nothing in the CineStudy names the patient."""

import logging
import warnings

from app.dicom.ingest import load_study


def test_no_patient_identifier_in_logs_warnings_or_result(realdata_dir, caplog):
    folder = realdata_dir / "sunnybrook_SCD0000101" / "dicom"
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        study = load_study(folder)
    emitted = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    for secret in ("SCD0000101", "00000000", "20120000"):
        assert not any(secret in message for message in emitted), secret
        assert all(secret not in warning for warning in study.warnings)
    assert not hasattr(study, "patient_id") and not hasattr(study, "patient_name")


def test_identifiers_only_in_the_evidence_for_the_sr(sunnybrook_study):
    """The SR writer needs the patient and study attributes; they live in `evidence` alone,
    whose repr shows a count, not a value."""
    evidence = sunnybrook_study.evidence
    assert evidence.header.PatientID == "SCD0000101"
    assert "SCD0000101" not in repr(sunnybrook_study)
    assert "SCD0000101" not in repr(sunnybrook_study.outline())
    assert repr(evidence) == "StudyEvidence(240 instances)"
