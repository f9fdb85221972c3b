"""STOW-RS of a result into the study's source."""

from pydicom.dataset import Dataset

from app.dicomweb.client import open_client, translated_errors
from app.dicomweb.models import DicomwebSource
from app.errors import DicomwebError


def store_instance(source: DicomwebSource, dataset: Dataset) -> None:
    """Store `dataset` (an SR of a study in `source`) in its study. Blocking. Raises
    DicomwebError when the source refuses it, and the other DICOMweb errors."""
    client = open_client(source)
    with translated_errors("store"):
        answer = client.store_instances([dataset], study_instance_uid=dataset.StudyInstanceUID)
    stored = {
        str(item.get("ReferencedSOPInstanceUID", ""))
        for item in answer.get("ReferencedSOPSequence", [])
    }
    if answer.get("FailedSOPSequence") or dataset.SOPInstanceUID not in stored:
        raise DicomwebError("the DICOMweb source did not store the structured report")
