"""The fast writer produces exactly what pydicom itself would write, for every site's syntax."""

from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.uid import MRImageStorage

from app.synth.sites import SITES
from app.synth.study import synthesize_study


@pytest.mark.parametrize("site", sorted(SITES))
def test_files_are_what_pydicom_writes_and_decode_to_the_rendered_frames(site, tmp_path):
    study = synthesize_study(site, seed=1, index=0)
    paths = study.write(tmp_path)
    for path in paths[:3] + paths[-2:]:
        original = path.read_bytes()
        ds = pydicom.dcmread(path)
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        assert buffer.getvalue() == original
        assert ds.SOPClassUID == MRImageStorage
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.Modality == "MR" and ds.CardiacNumberOfImages == study.row["phases"]
    first = pydicom.dcmread(paths[0])
    np.testing.assert_array_equal(
        first.pixel_array,
        study.series["sax"].frames[-1 if study.site.instances_apex_first else 0][0],
    )


def test_identifiers_are_fake_and_uids_unique(tmp_path):
    study = synthesize_study("site_a", seed=2, index=1)
    paths = study.write(tmp_path)
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    assert len({h.SOPInstanceUID for h in headers}) == len(paths)
    assert {str(h.PatientName) for h in headers} == {study.header.patient_name}
    assert study.header.patient_name.startswith("SYNTH^")
