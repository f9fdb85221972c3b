"""Ingesting an upload while it is still arriving.

The multipart reader hands every file of a study over as soon as its part is complete. Once
the upload proves slower than the event loop reads (a network link), a worker thread unpacks
each file (a zip) and reads its DICOM headers in the upload's pauses, so that this third of a
study's CPU time overlaps the transfer instead of following it; once the body is in, the
worker selects the views, decodes and preprocesses. A fast upload (loopback, a fast LAN) keeps
the event loop busy, and parsing beside it made the loop wait for the GIL at every read: its
files wait for the body, then go through `prepare_study` at once: the in-process path itself.
The event loop only enqueues: it never parses, and never frees a study's pixels.
"""

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable

from app.config import IngestLimits
from app.dicom.ingest import StudyFromUploads
from app.dicom.sources import Upload
from app.model_card import ModelCard
from app.pipeline.prepare import PreparedStudy, prepare_study, preprocessed

_END = None  # the queue's last item: the body is in
# An upload is slow when it arrives under this rate, judged once this much of it has come. Over
# loopback the event loop reads bench_gateway.py's 43 MB study in 40-53 ms here, 800-1100 MB/s
# (the `timings_ms.receive` that every diagnosis response reports).
_SLOW_BYTES_PER_S = 250e6
_RATE_SAMPLE_BYTES = 4 * 1024 * 1024
# The worker parses a file once no new one has come for this long, or the body is in.
_QUIET_S = 0.0005
_LONGEST_NAP_S = 0.008  # naps double while files keep coming


class UploadIngestion:
    """One study's ingestion in a worker thread, started once the upload proves slow or at
    `finish`. Call `add` for each uploaded file in the order sent, then `finish` once;
    `abandon` when the request ends without finishing (a refused upload, a bad field, a
    timeout), so the worker drops what is left."""

    def __init__(self, card: ModelCard, limits: IngestLimits) -> None:
        self._card = card
        self._files: queue.SimpleQueue[Upload | None] = queue.SimpleQueue()
        self._loop = asyncio.get_running_loop()
        self._result: asyncio.Future[PreparedStudy] = self._loop.create_future()
        self._abandoned = False
        self._body_in = threading.Event()
        self._started_at = self._last_file_at = time.perf_counter()
        self._bytes_in = 0
        self._limits = limits
        self._working = False

    def add(self, upload: Upload) -> None:
        self._last_file_at = time.perf_counter()
        self._bytes_in += len(upload[1])
        self._files.put(upload)
        if not self._working and self._slow_upload():
            self._start_worker(self._work)

    async def finish(self) -> PreparedStudy:
        """The prepared study, once every file added is ingested. Raises the data layer's
        CmrErrors (the first one met), as `load_study` on the same uploads would."""
        self._end()
        if not self._working:
            self._start_worker(self._prepare_whole_upload)
        return await self._result

    def _start_worker(self, work: Callable[[], None]) -> None:
        """A thread of the loop's executor, as asyncio.to_thread uses: a fast upload costs
        nothing while it arrives."""
        self._working = True
        self._loop.run_in_executor(None, work)

    def _slow_upload(self) -> bool:
        n_bytes = self._bytes_in
        elapsed_s = self._last_file_at - self._started_at
        return n_bytes >= _RATE_SAMPLE_BYTES and n_bytes < _SLOW_BYTES_PER_S * elapsed_s

    def abandon(self) -> None:
        """Stop ingesting: files not yet parsed are dropped and no result is made."""
        self._abandoned = True
        self._end()

    def _end(self) -> None:
        if not self._body_in.is_set():
            self._body_in.set()
            self._files.put(_END)

    def _work(self) -> None:
        """The worker thread: the study's bytes, datasets and pixels are freed here, each as
        soon as it is no longer needed (only this frame holds them)."""
        study = StudyFromUploads(self._limits)
        parse_s = 0.0
        failure: Exception | None = None
        while (upload := self._files.get()) is not _END:
            self._wait_for_a_pause()
            if failure is None and not self._abandoned:
                started = time.perf_counter()
                try:
                    study.add(upload)
                except Exception as exc:  # raised to the request by `finish`
                    failure = exc
                parse_s += time.perf_counter() - started
            del upload
        if self._abandoned:
            return
        prepared: PreparedStudy | None = None
        if failure is None:
            try:
                started = time.perf_counter()
                cine = study.finish()
                del study
                parse_ms = round((parse_s + time.perf_counter() - started) * 1000, 2)
                prepared = preprocessed(cine, self._card, parse_ms)
                del cine
            except Exception as exc:
                failure = exc
        else:
            del study  # `failure`'s traceback holds this frame
        self._hand_over(prepared, failure)

    def _prepare_whole_upload(self) -> None:
        """The worker of an upload that was all in before it started (see the module's
        docstring): its files are taken off the queue here, so that only this frame holds
        them."""
        uploads: list[Upload] = []
        while (upload := self._files.get()) is not _END:
            uploads.append(upload)
        if self._abandoned:
            return
        prepared: PreparedStudy | None = None
        failure: Exception | None = None
        try:
            prepared = prepare_study(uploads, self._card, self._limits)
        except Exception as exc:  # raised to the request by `finish`
            failure = exc
        del uploads
        self._hand_over(prepared, failure)

    def _hand_over(self, prepared: PreparedStudy | None, failure: Exception | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed (shutdown) meanwhile
            self._loop.call_soon_threadsafe(self._settle, prepared, failure)

    def _wait_for_a_pause(self) -> None:
        """Nap (without the GIL) until no new file has come for a moment, or the body is in
        (which wakes it at once)."""
        nap_s = _QUIET_S
        while time.perf_counter() - self._last_file_at < _QUIET_S:
            if self._body_in.wait(nap_s):
                return
            nap_s = min(2 * nap_s, _LONGEST_NAP_S)

    def _settle(self, prepared: PreparedStudy | None, failure: Exception | None) -> None:
        if self._result.done():  # the request stopped waiting (its deadline passed)
            return
        if failure is not None:
            self._result.set_exception(failure)
        elif prepared is not None:
            self._result.set_result(prepared)
