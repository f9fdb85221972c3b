"""A referenced study's cine series, from its DICOMweb source: choose on headers, then fetch.

1. QIDO-RS: the study's series. None: the study is not there (404 `study_not_found`).
2. Candidates by the rules below (modality); a study with one candidate has no choice to make.
3. Several candidates: WADO-RS metadata (headers only, no pixels) of each, through the same
   view selection that an upload goes through (`select_views`); only the series holding the
   chosen clips are kept. A study with no cine series is refused here, before any pixel moves.
4. WADO-RS: the kept series, in their stored transfer syntax (no transcoding by the server),
   each part parsed as it arrives.
Blocking (requests): the pipeline calls it in a worker thread.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.dataset import Dataset

from app.config import IngestLimits
from app.dicom.frames import FrameHeader, frame_headers
from app.dicom.series import select_views
from app.dicomweb.client import open_client, translated_errors
from app.dicomweb.models import DicomwebSource
from app.errors import NoCineSeriesError, StudyNotFoundError, TooManyFilesError

# The series a cine view can come from: images of an MR acquisition. (Structured reports,
# presentation states, segmentations and secondary captures never hold a cine.)
CANDIDATE_MODALITIES = frozenset({"MR"})
_SERIES_FIELDS = ("Modality", "SeriesDescription", "NumberOfSeriesRelatedInstances")
_AS_STORED = (("application/dicom", "*"),)  # any transfer syntax: the server sends it as is


@dataclass(frozen=True)
class SeriesEntry:
    """One series of a study as QIDO-RS lists it."""

    series_instance_uid: str
    modality: str
    n_instances: int | None

    @classmethod
    def of(cls, item: dict) -> "SeriesEntry":
        ds = Dataset.from_json(item)
        count = ds.get("NumberOfSeriesRelatedInstances")
        return cls(str(ds.SeriesInstanceUID), str(ds.get("Modality", "")).upper(), count)


class StudyRetrieval:
    """The cine series of one study in one source (one client, one study)."""

    def __init__(self, source: DicomwebSource, study_instance_uid: str, limits: IngestLimits):
        self.client = open_client(source)
        self.study_uid = study_instance_uid
        self.limits = limits
        self._missing = "no study of that StudyInstanceUID in the DICOMweb source"

    def series(self) -> list[SeriesEntry]:
        """QIDO-RS: the study's series; raises StudyNotFoundError when it has none."""
        with translated_errors("series search", not_found=self._missing):
            items = self.client.search_for_series(
                study_instance_uid=self.study_uid, fields=_SERIES_FIELDS
            )
            entries = [SeriesEntry.of(item) for item in items]
        if not entries:
            raise StudyNotFoundError(self._missing)
        return entries

    def cine_series(self) -> list[SeriesEntry]:
        """The series that hold the study's cine views, chosen without fetching pixels.
        Raises StudyNotFoundError, NoCineSeriesError, TooManyFilesError, DICOMweb errors."""
        entries = self.series()
        candidates = [e for e in entries if e.modality in CANDIDATE_MODALITIES]
        if not candidates:
            raise NoCineSeriesError(f"none of the study's {len(entries)} series is MR")
        if len(candidates) > 1:
            chosen = self._chosen_by_headers(candidates)
            candidates = [e for e in candidates if e.series_instance_uid in chosen]
        n_files = sum(e.n_instances or 0 for e in candidates)
        if n_files > self.limits.max_files:
            raise TooManyFilesError(f"more than {self.limits.max_files} files in one study")
        return candidates

    def _chosen_by_headers(self, candidates: list[SeriesEntry]) -> set[str]:
        frames: list[FrameHeader] = []
        for n, entry in enumerate(candidates):
            with translated_errors("metadata retrieval", not_found=self._missing):
                items = self.client.retrieve_series_metadata(
                    self.study_uid, entry.series_instance_uid
                )
            for item in items:
                ds = Dataset.from_json(item, bulk_data_uri_handler=_no_bulk_data)
                try:
                    frames.extend(frame_headers(ds, dataset_index=n))
                except Exception:  # an unusable header: the upload path skips that file too
                    continue
        selection = select_views(frames, self.limits)
        return {
            frame.series_uid
            for plan in selection.views.values()
            for clip in plan.slices
            for frame in clip.frames
        }

    def instances(self, entries: list[SeriesEntry]) -> Iterator[Dataset]:
        """WADO-RS: every instance of `entries`, parsed part by part as it arrives."""
        for entry in entries:
            with translated_errors("retrieval", not_found=self._missing):
                yield from self.client.iter_series(
                    self.study_uid, entry.series_instance_uid, media_types=_AS_STORED
                )


def _no_bulk_data(*_: object) -> bytes:
    """Metadata names pixel data by URI: selection never needs it."""
    return b""
