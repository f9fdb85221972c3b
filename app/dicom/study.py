"""The ingested study: what DICOM ingestion hands to preprocessing. numpy only, no torch.

Holds no patient identifiers, except in `CineStudy.evidence`, which only the DICOM SR writer
reads (a report filed back into PACS must name its patient and study).
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from app.dicom.evidence import StudyEvidence

ViewName = Literal["sax", "2ch", "3ch", "4ch"]
LONG_AXIS_VIEWS: tuple[ViewName, ...] = ("4ch", "2ch", "3ch")


@dataclass(frozen=True)
class CineView:
    """One cine view: a short-axis stack (S >= 1 slices) or a single long-axis plane (S == 1).

    `pixels` is float32 (S, T, H, W) in stored units after RescaleSlope/Intercept, with
    MONOCHROME1 inverted so that bright blood is always high. Slices are ordered base -> apex
    for the short-axis stack; phases by trigger time over one cardiac cycle.
    """

    name: ViewName
    pixels: np.ndarray  # float32 (S, T, H, W)
    pixel_spacing_mm: tuple[float, float]  # (between rows, between columns)
    orientation: np.ndarray  # float64 (6,): row direction cosines, then column direction cosines
    slice_positions_mm: np.ndarray  # float64 (S, 3): ImagePositionPatient of each slice
    trigger_times_ms: np.ndarray  # float64 (S, T)
    rr_interval_ms: float
    series_instance_uids: tuple[str, ...]
    series_description: str = ""

    @property
    def n_slices(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def n_phases(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def normal(self) -> np.ndarray:
        """Unit normal of the image plane (row x column), float64 (3,)."""
        row, col = self.orientation[:3], self.orientation[3:]
        n = np.cross(row, col)
        return n / np.linalg.norm(n)

    @property
    def slice_spacing_mm(self) -> float:
        """Median distance between neighbouring slices along the normal (0 for one slice)."""
        if self.n_slices < 2:
            return 0.0
        along = self.slice_positions_mm @ self.normal
        return float(np.median(np.abs(np.diff(along))))


@dataclass(frozen=True)
class StudyOutline:
    """What is said about an ingested study once its pixels are released: identifiers of
    the study (no patient's), its views, the short-axis grid, and the ingestion warnings."""

    study_instance_uid: str
    views: tuple[str, ...]  # the short-axis stack first, then the long-axis views by name
    slices: int  # short-axis slices (0 without a short-axis stack)
    phases: int  # short-axis phases (0 without a short-axis stack)
    n_files: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class CineStudy:
    study_instance_uid: str
    views: dict[str, CineView]
    warnings: list[str] = field(default_factory=list)
    manufacturer: str = ""
    n_files: int = 0
    evidence: StudyEvidence | None = None  # the source instances, for a result written back

    @property
    def sax(self) -> CineView | None:
        return self.views.get("sax")

    def outline(self) -> StudyOutline:
        sax = self.sax
        return StudyOutline(
            study_instance_uid=self.study_instance_uid,
            views=tuple(sorted(self.views, key=lambda name: (name != "sax", name))),
            slices=sax.n_slices if sax else 0,
            phases=sax.n_phases if sax else 0,
            n_files=self.n_files,
            warnings=tuple(self.warnings),
        )
