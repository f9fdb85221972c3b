"""Parsed datasets (a DICOMweb retrieval's parts) ingest as their files do, and the evidence
of a study lists exactly the instances whose frames were used, in its source study."""

from pathlib import Path

import numpy as np
import pydicom

from app.dicom.ingest import load_datasets, load_study
from app.dicom.study import CineStudy


def test_datasets_ingest_as_their_files(sunnybrook_dir: Path, sunnybrook_study: CineStudy):
    datasets = [pydicom.dcmread(p) for p in sorted(sunnybrook_dir.glob("*.dcm"))]
    study = load_datasets(datasets)
    assert study.outline() == sunnybrook_study.outline()
    np.testing.assert_array_equal(study.views["sax"].pixels, sunnybrook_study.views["sax"].pixels)
    assert study.evidence.instances == sunnybrook_study.evidence.instances


def test_evidence_lists_the_used_instances(sunnybrook_dir: Path):
    """All 240 images of the real study are used: each is evidence, once, in its study; the
    first dataset carries the patient and study attributes, the others only their UIDs."""
    paths = sorted(sunnybrook_dir.glob("*.dcm"))
    study = load_study(paths)
    instances = study.evidence.instances
    assert len(instances) == 240
    assert {uid for uid, _, _, _ in instances} == {study.study_instance_uid}
    sop_uids = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths}
    assert {sop for _, _, _, sop in instances} == sop_uids
    first, *rest = study.evidence.datasets()
    assert "PixelData" not in first
    assert first.PatientID and first.StudyInstanceUID == study.study_instance_uid
    assert all(
        set(ds.dir()) == {"StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID"}
        for ds in rest
    )


def test_an_unreadable_element_is_left_out_of_the_evidence_not_raised():
    from pydicom.dataelem import RawDataElement
    from pydicom.dataset import Dataset
    from pydicom.tag import Tag

    from app.dicom.evidence import study_evidence

    ds = Dataset()
    ds.StudyInstanceUID = "1.2.3"
    ds.SOPInstanceUID = "1.2.3.4"
    # a series UID whose VR a flipped byte made unknown (found by tests/dicom/test_fuzz.py)
    raw = RawDataElement(Tag(0x0020000E), "U\x00", 4, b"1.23", 0, False, True)
    ds._dict[raw.tag] = raw
    evidence = study_evidence([ds])
    assert "SeriesInstanceUID" not in evidence.header or evidence.header.SeriesInstanceUID is None
    assert evidence.instances[0][0] == "1.2.3" and evidence.instances[0][1] == ""
