"""UploadIngestion: a study ingested file by file while its upload arrives gives what
prepare_study gives on the whole upload, parses in a slow upload's pauses and not during a fast
upload (whose files then go through prepare_study at once), frees its pixels in its worker,
and stops when abandoned."""

import asyncio
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from app.config import IngestLimits
from app.dicom.reader import HeaderReader
from app.dicom.sources import Payload, Upload
from app.dicom.study import CineStudy
from app.errors import NotDicomError, TooManyFilesError
from app.model_card import ModelCard, load_model_card
from app.pipeline import ingestion, prepare
from app.pipeline.ingestion import UploadIngestion
from app.synth.study import synthesize_study

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return load_model_card(REPOSITORY)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> list[Upload]:
    study = synthesize_study("site_b", seed=5, index=2)
    out = tmp_path_factory.mktemp("study")
    return [(p.name, p.read_bytes()) for p in sorted(study.write(out))]


def _ingest(uploads: list[Upload], card: ModelCard, limits: IngestLimits) -> prepare.PreparedStudy:
    async def run() -> prepare.PreparedStudy:
        ingestion = UploadIngestion(card, limits)
        for upload in uploads:
            ingestion.add(upload)
            await asyncio.sleep(0)  # as the event loop between two multipart parts
        return await ingestion.finish()

    return asyncio.run(run())


@pytest.mark.parametrize("slow", [False, True])
def test_gives_what_prepare_study_gives_on_the_whole_upload(
    uploads: list[Upload], card: ModelCard, monkeypatch: pytest.MonkeyPatch, slow: bool
) -> None:
    """A slow upload is ingested file by file; a fast one goes through prepare_study itself."""
    if slow:
        _count_as_slow(monkeypatch)
    streamed = _ingest(uploads, card, IngestLimits())
    whole = prepare.prepare_study(uploads, card, IngestLimits())
    assert streamed.outline == whole.outline
    for name in ("sax", "lax", "lax_present"):
        np.testing.assert_array_equal(
            getattr(streamed.model_input, name), getattr(whole.model_input, name)
        )
    assert streamed.timings_ms.keys() == {"parse", "preprocess"}
    assert all(ms > 0 for ms in streamed.timings_ms.values())


def _count_as_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every upload proves slow after its first file: the worker parses file by file."""
    monkeypatch.setattr(ingestion, "_RATE_SAMPLE_BYTES", 1)
    monkeypatch.setattr(ingestion, "_SLOW_BYTES_PER_S", float("inf"))


@pytest.mark.parametrize("slow", [False, True])
def test_the_pixels_are_freed_in_the_worker_thread(
    uploads: list[Upload], card: ModelCard, monkeypatch: pytest.MonkeyPatch, slow: bool
) -> None:
    if slow:
        _count_as_slow(monkeypatch)
    freed_in: list[int] = []
    ingested: list[weakref.ref] = []
    preprocessed = prepare.preprocessed

    def preprocessed_and_watch(
        cine: CineStudy, card: ModelCard, parse_ms: float
    ) -> prepare.PreparedStudy:
        for view in cine.views.values():
            ingested.append(weakref.ref(view.pixels))
            weakref.finalize(view.pixels, lambda: freed_in.append(threading.get_ident()))
        return preprocessed(cine, card, parse_ms)

    monkeypatch.setattr(prepare, "preprocessed", preprocessed_and_watch)  # prepare_study's
    monkeypatch.setattr(ingestion, "preprocessed", preprocessed_and_watch)  # the worker's
    _ingest(uploads, card, IngestLimits())  # the event loop runs in this thread
    assert ingested and all(pixels() is None for pixels in ingested)
    assert len(freed_in) == len(ingested)
    assert threading.get_ident() not in freed_in


def _watch_parsing(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """perf_counter() at the start of each file's parsing (its headers, in either path)."""
    parsed_at: list[float] = []
    add = HeaderReader.add

    def add_and_watch(self: HeaderReader, payload: Payload) -> None:
        parsed_at.append(time.perf_counter())
        add(self, payload)

    monkeypatch.setattr(HeaderReader, "add", add_and_watch)
    return parsed_at


async def _feed_slowly(study: UploadIngestion, uploads: list[Upload]) -> list[float]:
    """Each file 0.1 s after the last, as over a slow link; when each was handed over."""
    added_at = []
    for upload in uploads:
        await asyncio.sleep(0.1)  # the file is still on its way
        added_at.append(time.perf_counter())
        study.add(upload)
    await asyncio.sleep(0.1)
    return added_at


def test_files_of_a_slow_upload_are_parsed_in_its_pauses(
    uploads: list[Upload], card: ModelCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingestion, "_RATE_SAMPLE_BYTES", 1)  # judge the rate on a few files
    parsed_at = _watch_parsing(monkeypatch)

    async def run() -> list[float]:
        study = UploadIngestion(card, IngestLimits())
        added_at = await _feed_slowly(study, uploads[:4])
        finish_at = time.perf_counter()
        study.add(uploads[4])
        # five phases of one slice: a study of key frames only; the timing is the point
        prepared = await study.finish()
        assert prepared.outline.phases == 5
        assert any(w.startswith("key frames only") for w in prepared.outline.warnings)
        assert all(at < finish_at for at in parsed_at[:4])
        return added_at

    added_at = asyncio.run(run())
    assert len(parsed_at) == 5
    assert all(added_at[i] < parsed_at[i] < added_at[i + 1] for i in range(3))


def test_files_of_a_fast_upload_wait_for_the_body(
    uploads: list[Upload], card: ModelCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 22 MB handed over in well under a second even on a slow machine: a fast upload
    monkeypatch.setattr(ingestion, "_SLOW_BYTES_PER_S", 20e6)
    parsed_at = _watch_parsing(monkeypatch)

    async def run() -> float:
        study = UploadIngestion(card, IngestLimits())
        for upload in uploads:
            study.add(upload)
            await asyncio.sleep(0)  # the event loop reading the next part at once
        await asyncio.sleep(0.3)  # a pause after a fast upload: still no parsing
        body_in_at = time.perf_counter()
        await study.finish()
        return body_in_at

    body_in_at = asyncio.run(run())
    assert len(parsed_at) == len(uploads)
    assert parsed_at[0] > body_in_at  # none while the event loop was busy receiving


def test_a_fast_upload_goes_through_prepare_study_at_once(
    uploads: list[Upload], card: ModelCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the body is in, the files take the in-process path, all of them in one call."""
    calls: list[list[Upload]] = []
    prepare_study = prepare.prepare_study

    def prepare_and_watch(
        sent: list[Upload], card: ModelCard, limits: IngestLimits
    ) -> prepare.PreparedStudy:
        calls.append(list(sent))
        return prepare_study(sent, card, limits)

    monkeypatch.setattr(ingestion, "prepare_study", prepare_and_watch)
    _ingest(uploads, card, IngestLimits())
    assert calls == [uploads]
    _count_as_slow(monkeypatch)
    _ingest(uploads, card, IngestLimits())
    assert len(calls) == 1  # a slow upload's files are parsed one by one as they come


@pytest.mark.parametrize("slow", [False, True])
@pytest.mark.parametrize(
    ("limits", "spoil", "error"),
    [
        (IngestLimits(max_files=3), False, TooManyFilesError),
        (IngestLimits(), True, NotDicomError),
    ],
)
def test_errors_are_those_of_prepare_study_and_raised_by_finish(
    uploads: list[Upload],
    card: ModelCard,
    monkeypatch: pytest.MonkeyPatch,
    limits: IngestLimits,
    spoil: bool,
    error: type,
    slow: bool,
) -> None:
    if slow:
        _count_as_slow(monkeypatch)
    sent = [(name, b"not a DICOM file") for name, _ in uploads[:5]] if spoil else uploads
    with pytest.raises(error) as streamed:
        _ingest(sent, card, limits)
    with pytest.raises(error) as whole:
        prepare.prepare_study(sent, card, limits)
    assert streamed.value.message == whole.value.message


def test_an_abandoned_ingestion_parses_no_more(
    uploads: list[Upload], card: ModelCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingestion, "_RATE_SAMPLE_BYTES", 1)
    monkeypatch.setattr(ingestion, "_QUIET_S", 0.05)  # a burst never looks like a pause
    parsed_at = _watch_parsing(monkeypatch)

    async def run() -> None:
        study = UploadIngestion(card, IngestLimits())
        await _feed_slowly(study, uploads[:3])  # parsed as they come
        for upload in uploads[3:8]:  # a burst: the worker waits for a pause
            study.add(upload)
        study.abandon()  # the request gave up (a bad field, its deadline)
        await asyncio.sleep(0.3)

    asyncio.run(run())
    assert len(parsed_at) == 3  # the worker woke at the body's end and dropped the burst
