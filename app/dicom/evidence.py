"""What a result written back to PACS must say about its source: the study's patient and study
attributes, and every instance whose frames the model saw.

A DICOM Structured Report is filed by PACS under the patient and study it names, so these
identifiers are kept here, and only here: in memory, for the SR writer (app/reporting/sr.py).
Nothing logs them or returns them in JSON.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

_PIXEL_DATA_GROUP = Tag(0x7FE0, 0x0000)
_UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID")
# The attributes an SR writer reads from its first evidence item even when the source lacks
# them (highdicom does): present, empty where the source has no value.
_REQUIRED_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


@dataclass(frozen=True, repr=False)
class StudyEvidence:
    """The source study of a result. `header`: the top-level attributes of its first used
    instance, pixels excluded (patient identifiers among them); `instances`: (study, series,
    SOP class, SOP instance) UIDs of every instance used, in order."""

    header: Dataset
    instances: tuple[tuple[str, str, str, str], ...]

    def __repr__(self) -> str:  # never the header's values, even in a traceback
        return f"StudyEvidence({len(self.instances)} instances)"

    @property
    def series_instance_uids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(series for _, series, _, _ in self.instances))

    def datasets(self) -> list[Dataset]:
        """One dataset per instance, the first with the patient and study attributes: the
        `evidence` an SR writer copies from and references."""
        out = [self.header]
        for uids in self.instances[1:]:
            item = Dataset()
            for keyword, value in zip(_UID_KEYWORDS, uids, strict=True):
                setattr(item, keyword, value)
            out.append(item)
        return out


def _element(ds: Dataset, tag: BaseTag) -> DataElement | None:
    """The element, or None when its raw bytes cannot be read (a corrupt VR or value in an
    element ingestion never needed): such an element is no evidence, and must not fail a
    study that ingested."""
    try:
        return ds[tag]
    except Exception:  # pydicom raises many types on corrupt elements
        return None


def _text(ds: Dataset, keyword: str) -> str:
    element = _element(ds, BaseTag(tag_for_keyword(keyword)))
    return "" if element is None or element.value is None else str(element.value)


def study_evidence(datasets: Sequence[Dataset]) -> StudyEvidence:
    """The evidence of the (non-empty) instances a study was built from."""
    first = datasets[0]
    header = Dataset()
    for tag in first.keys():  # noqa: SIM118 (iterating a Dataset converts each element)
        if tag < _PIXEL_DATA_GROUP and (element := _element(first, tag)) is not None:
            header.add(element)
    for keyword in _REQUIRED_KEYWORDS:
        if keyword not in header:
            setattr(header, keyword, None)
    instances = tuple(tuple(_text(ds, keyword) for keyword in _UID_KEYWORDS) for ds in datasets)
    return StudyEvidence(header, instances)  # type: ignore[arg-type]
