"""Write a synthetic cine series as standards-conformant DICOM (MR Image Storage).

The series header is built once as a pydicom Dataset and each of its elements encoded once by
pydicom; per instance only the ten elements that change are encoded again. pydicom's
`save_as` per file spent 5 ms re-encoding the same 70 elements (more than rendering took);
tests check the files are byte-identical to what `save_as` writes.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.pixels import get_encoder
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

from app.synth.scene import Plane
from app.synth.sites import SiteProfile

_SYNTAXES: dict[str, UID] = {
    "explicit_le": ExplicitVRLittleEndian,
    "implicit_le": ImplicitVRLittleEndian,
    "jpeg_ls": JPEGLSLossless,
    "rle": RLELossless,
}


@dataclass(frozen=True)
class StudyHeader:
    """Study-level identity: deterministic UIDs and fake patient identifiers."""

    key: str  # seeds every UID
    study_uid: str
    frame_of_reference_uid: str
    patient_name: str
    patient_id: str
    patient_sex: str
    patient_age_years: int
    study_date: str  # YYYYMMDD
    accession: str
    heart_rate_bpm: float

    @classmethod
    def create(cls, key: str, rng: np.random.Generator, heart_rate_bpm: float) -> "StudyHeader":
        tag = f"{int(rng.integers(0, 16**8)):08X}"
        year, month, day = (
            int(rng.integers(2023, 2027)),
            int(rng.integers(1, 13)),
            int(rng.integers(1, 29)),
        )
        return cls(
            key=key,
            study_uid=uid(key, "study"),
            frame_of_reference_uid=uid(key, "frame-of-reference"),
            patient_name=f"SYNTH^PATIENT{tag}",
            patient_id=f"SYN{tag}",
            patient_sex=str(rng.choice(["M", "F"])),
            patient_age_years=int(rng.integers(18, 86)),
            study_date=f"{year:04d}{month:02d}{day:02d}",
            accession=f"ACC{tag[:6]}",
            heart_rate_bpm=heart_rate_bpm,
        )


def uid(*parts: str) -> str:
    """Deterministic UID (pydicom's prefix + hash of the parts)."""
    return generate_uid(entropy_srcs=list(parts))


@dataclass(frozen=True)
class SeriesImages:
    """One cine view as written: frames per plane with their trigger times."""

    view: str  # "sax" or "4ch"
    series_number: int
    description: str
    planes: list[Plane]
    frames: list[np.ndarray]  # per plane: int16/uint16 (T, H, W)
    trigger_times_ms: list[np.ndarray]  # per plane: (T,)
    rr_intervals_ms: list[float]  # per plane: each slice is its own breath-hold
    slice_thickness_mm: float
    spacing_between_slices_mm: float


def _series_dataset(header: StudyHeader, site: SiteProfile, series: SeriesImages) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "CINE"]
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = header.study_date
    ds.StudyTime = "090000"
    ds.AccessionNumber = header.accession
    ds.Modality = "MR"
    ds.Manufacturer = site.manufacturer
    ds.ManufacturerModelName = site.model_name
    ds.InstitutionName = f"Synthetic {site.name.replace('_', ' ').title()}"
    ds.StudyDescription = "CARDIAC MRI^FUNCTION"
    ds.SeriesDescription = series.description
    ds.PatientName = header.patient_name
    ds.PatientID = header.patient_id
    ds.PatientSex = header.patient_sex
    ds.PatientAge = f"{header.patient_age_years:03d}Y"
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = "SS"
    ds.MRAcquisitionType = "2D"
    ds.SliceThickness = f"{series.slice_thickness_mm:g}"
    ds.SpacingBetweenSlices = f"{series.spacing_between_slices_mm:g}"
    ds.RepetitionTime = "3.2"
    ds.EchoTime = "1.4"
    ds.FlipAngle = "50"
    ds.MagneticFieldStrength = f"{site.field_strength_t:g}"
    ds.HeartRate = str(round(header.heart_rate_bpm))
    ds.NominalInterval = str(round(series.rr_intervals_ms[0]))
    ds.CardiacNumberOfImages = len(series.trigger_times_ms[0])
    ds.PatientPosition = site.patient_position
    ds.StudyInstanceUID = header.study_uid
    ds.FrameOfReferenceUID = header.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.StudyID = "1"
    ds.SeriesNumber = series.series_number
    ds.AcquisitionNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    first = series.planes[0]
    ds.Rows = ds.Columns = first.size
    ds.PixelSpacing = [f"{first.pixel_mm:.6g}", f"{first.pixel_mm:.6g}"]
    ds.ImageOrientationPatient = [f"{x:.6f}" for x in (*first.row_dir, *first.col_dir)]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 1 if site.signed_pixels else 0
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = f"{site.rescale_slope:g}"
    ds.RescaleType = "US"
    level = site.stored_blood_level / site.rescale_slope
    ds.WindowCenter = f"{level * 0.8:.0f}"
    ds.WindowWidth = f"{level * 1.6:.0f}"
    return ds


_PER_INSTANCE = (
    "SOPInstanceUID",
    "AcquisitionTime",
    "ContentTime",
    "TriggerTime",
    "SeriesInstanceUID",
    "SeriesNumber",
    "InstanceNumber",
    "ImagePositionPatient",
    "SliceLocation",
    "NominalInterval",
)
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _encode(ds: Dataset, implicit: bool) -> dict[int, bytes]:
    """Each element of `ds` as the bytes pydicom writes for it, by tag."""
    encoded = {}
    for element in ds:
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, implicit
        write_data_element(fp, element)
        encoded[int(element.tag)] = fp.getvalue()
    return encoded


def _file_meta(ds: Dataset, syntax: UID) -> bytes:
    meta = Dataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"
    body = b"".join(v for _, v in sorted(_encode(meta, implicit=False).items()))
    length = b"\x02\x00\x00\x00UL\x04\x00" + len(body).to_bytes(4, "little")
    return b"\x00" * 128 + b"DICM" + length + body


def _pixel_element(pixels: np.ndarray, syntax: UID, implicit: bool, ds: Dataset) -> bytes:
    if syntax.is_compressed:
        frame = get_encoder(syntax).encode(
            pixels,
            rows=ds.Rows,
            columns=ds.Columns,
            samples_per_pixel=1,
            bits_allocated=16,
            bits_stored=ds.BitsStored,
            pixel_representation=ds.PixelRepresentation,
            photometric_interpretation="MONOCHROME2",
            number_of_frames=1,
        )
        value = encapsulate([frame]) + _SEQUENCE_DELIMITER
        return _PIXEL_DATA_TAG + b"OB\x00\x00\xff\xff\xff\xff" + value
    value = np.ascontiguousarray(pixels).astype("<u2", copy=False).tobytes()
    length = len(value).to_bytes(4, "little")
    header = _PIXEL_DATA_TAG + (length if implicit else b"OW\x00\x00" + length)
    return header + value


def write_series(
    header: StudyHeader, site: SiteProfile, series: SeriesImages, out_dir: Path
) -> list[Path]:
    """Write every frame of the series (slice-major instance numbers) and return the paths.

    Sites with `series_per_slice` write each short-axis slice as its own series, as many
    scanners do; `instances_apex_first` reverses slice order in InstanceNumber.
    """
    ds = _series_dataset(header, site, series)
    syntax = _SYNTAXES[site.transfer_syntax]
    implicit = syntax == ImplicitVRLittleEndian
    constant = _encode(ds, implicit)
    stack_normal = series.planes[0].normal
    order = list(range(len(series.planes)))
    if site.instances_apex_first:
        order.reverse()
    per_slice = site.series_per_slice and series.view == "sax"
    paths: list[Path] = []
    instance = 0
    for rank, index in enumerate(order):
        plane = series.planes[index]
        series_key = f"{series.view}-{index}" if per_slice else series.view
        ds.SeriesInstanceUID = uid(header.key, "series", series_key)
        if per_slice:
            ds.SeriesNumber = series.series_number + rank
        folder = out_dir / f"{ds.SeriesNumber:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        ds.ImagePositionPatient = [f"{x:.4f}" for x in plane.origin_mm]
        ds.SliceLocation = f"{float(plane.origin_mm @ stack_normal):.4f}"
        ds.NominalInterval = str(round(series.rr_intervals_ms[index]))
        for phase, pixels in enumerate(series.frames[index]):
            instance += 1
            ds.InstanceNumber = instance
            ds.SOPInstanceUID = uid(header.key, series.view, str(index), str(phase))
            ds.TriggerTime = f"{series.trigger_times_ms[index][phase]:.2f}"
            ds.AcquisitionTime = ds.ContentTime = f"09{10 + rank:02d}{phase % 60:02d}"
            changed = Dataset()
            for keyword in _PER_INSTANCE:
                setattr(changed, keyword, getattr(ds, keyword))
            elements = constant | _encode(changed, implicit)
            body = b"".join(elements[tag] for tag in sorted(elements))
            path = folder / f"IM{instance:05d}.dcm"
            path.write_bytes(
                _file_meta(ds, syntax) + body + _pixel_element(pixels, syntax, implicit, ds)
            )
            paths.append(path)
    return paths
