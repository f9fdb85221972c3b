"""The identifiers that link a study to the hospital's records: PatientID (with its issuer) and
AccessionNumber, read from one DICOM header of an upload.

They are patient identifiers: held in `StudyIdentifiers`, whose repr names none of them, used
only to build the linked FHIR report, and never logged, stored or put in a metric. The rest of
the data path (CineStudy, the outline) still names no patient.
"""

import io
import zipfile
from dataclasses import dataclass, field

from pydicom import dcmread

from app.dicom.sources import Upload

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_HEADER_BYTES = 1 << 16  # of a zip entry: the header of any sane DICOM file fits
_ZIP_ENTRIES_TRIED = 8
_TAGS = ["StudyInstanceUID", "PatientID", "IssuerOfPatientID", "AccessionNumber"]


@dataclass(frozen=True)
class StudyIdentifiers:
    study_instance_uid: str
    patient_id: str | None = field(default=None, repr=False)
    issuer_of_patient_id: str | None = field(default=None, repr=False)
    accession_number: str | None = field(default=None, repr=False)


def _text(ds: object, keyword: str) -> str | None:
    value = str(getattr(ds, keyword, "") or "").strip()
    return value or None


def identifiers_of(ds: object) -> StudyIdentifiers | None:
    """The identifiers of a parsed header (a study retrieved from PACS), None without a
    StudyInstanceUID."""
    uid = _text(ds, "StudyInstanceUID")
    if uid is None:
        return None
    return StudyIdentifiers(
        study_instance_uid=uid,
        patient_id=_text(ds, "PatientID"),
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID"),
        accession_number=_text(ds, "AccessionNumber"),
    )


def _from_bytes(data: bytes) -> StudyIdentifiers | None:
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=_TAGS)
        return identifiers_of(ds)
    except Exception:  # pydicom raises many types on truncated or random bytes
        return None


def read_identifiers(data: bytes) -> StudyIdentifiers | None:
    """The identifiers of one uploaded file, or of the first readable DICOM entry among the
    first few of a zip (each read no further than its first 64 KiB); None if it holds none."""
    if data[:4] not in _ZIP_MAGICS:
        return _from_bytes(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist()[:_ZIP_ENTRIES_TRIED]:
                if info.is_dir():
                    continue
                with archive.open(info) as entry:
                    found = _from_bytes(entry.read(_HEADER_BYTES))
                if found is not None:
                    return found
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
        return None  # the ingestion reports what is wrong with the zip
    return None


class IdentifierSniffer:
    """Fed each uploaded file, keeps the identifiers of the first that has them."""

    def __init__(self) -> None:
        self.found: StudyIdentifiers | None = None

    def add(self, upload: Upload) -> None:
        if self.found is None:
            self.found = read_identifiers(upload[1])

    def of_study(self, study_instance_uid: str) -> StudyIdentifiers | None:
        """The identifiers if they are those of the study ingested (an upload mixing studies
        may have led with another one's file): a report is never linked to the wrong order."""
        found = self.found
        return (
            found if found is not None and found.study_instance_uid == study_instance_uid else None
        )
