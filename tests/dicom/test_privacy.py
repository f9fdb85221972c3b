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
