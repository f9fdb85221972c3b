"""What the gateway does with a study and a question, independent of HTTP: the one service the
routes call.

uploads -> PreparedStudy (app/pipeline/prepare.py, in worker threads while the upload streams:
app/pipeline/ingestion.py) -> backend -> unit embeddings -> zero-shot scores (app/zeroshot).
The number of studies in flight is bounded by `InferenceSlots`, so the event loop stays free.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import numpy as np
from pydicom.dataset import Dataset

from app.config import IngestLimits, ServingSettings
from app.dicom.sources import Upload
from app.dicomweb.models import DicomwebSource, StudyReference
from app.dicomweb.store import store_instance
from app.errors import OverloadedError, RequestTimeoutError, UnknownDicomwebSourceError
from app.inference.backend import EncoderBackend, VideoBatch, VideoEmbeddings
from app.inference.text import TextEmbedder
from app.model_card import ModelCard, load_model_card
from app.pipeline.ingestion import UploadIngestion
from app.pipeline.prepare import (
    PreparedStudy,
    elapsed_ms,
    prepare_referenced_study,
    prepare_study,
)
from app.text.tokenizer import load_tokenizer
from app.zeroshot.condition_sets import load_condition_sets
from app.zeroshot.measurements import MEASUREMENTS
from app.zeroshot.prototype_store import PrototypeStore
from app.zeroshot.scoring_sets import (
    ConditionScore,
    ConditionVectors,
    ScoringSet,
    condition_vectors,
    score_conditions,
)


class InferenceSlots:
    """Bounds the studies decoded and encoded at once. A request that finds no free slot
    within `max_wait_s` is refused with OverloadedError (503 + Retry-After), never queued
    without bound."""

    def __init__(self, capacity: int, max_wait_s: float) -> None:
        self.capacity = capacity
        self._semaphore = asyncio.Semaphore(capacity)
        self._max_wait_s = max_wait_s
        self.in_use = 0

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        try:
            if self._semaphore.locked() and self._max_wait_s == 0:
                raise TimeoutError
            await asyncio.wait_for(self._semaphore.acquire(), timeout=self._max_wait_s or None)
        except TimeoutError:
            raise OverloadedError(
                f"all {self.capacity} inference slots are busy; retry shortly", retry_after_s=1
            ) from None
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            self._semaphore.release()


class Pipeline:
    def __init__(
        self,
        settings: ServingSettings,
        card: ModelCard,
        backend: EncoderBackend,
        text: TextEmbedder,
    ) -> None:
        self.settings = settings
        self.card = card
        self.backend = backend
        self.text = text
        self.condition_sets = load_condition_sets()
        self.prototypes = PrototypeStore(settings.prototype_dir, card)
        self.slots = InferenceSlots(settings.max_concurrent_inferences, settings.max_queue_wait_s)
        self._measurement_warm_up: asyncio.Task | None = None
        self.limits = IngestLimits(max_files=settings.max_upload_files)

    @classmethod
    def from_settings(cls, settings: ServingSettings) -> "Pipeline":
        repository = settings.model_repository
        card = load_model_card(repository)
        backend = make_backend(settings, card)
        tokenizer = load_tokenizer(repository / card.text.tokenizer)
        text = TextEmbedder(backend, tokenizer, card.text, settings.prompt_cache_size)
        return cls(settings, card, backend, text)

    def shipped_sets(self) -> Iterator[ScoringSet]:
        return (ScoringSet.shipped(s) for s in self.condition_sets.values())

    async def start(self) -> None:
        await self.backend.start()

    async def close(self) -> None:
        if self._measurement_warm_up is not None:
            self._measurement_warm_up.cancel()
        await self.backend.close()

    async def ready(self) -> None:
        """Raise unless the backend serves the card's model and the default prompts are cached
        (they are embedded here on first success, so readiness implies a warm cache)."""
        await self.backend.ready()
        prompts = [p for s in self.shipped_sets() for p in s.all_prompts()]
        if not self.text.is_pinned(prompts):
            await self.text.pin(prompts, request_id="warm-up")
        if self._measurement_warm_up is None and self.card.calibration.measurements:
            # In the background: some 160 grid prompts would hold readiness back (past a
            # minute through Triton's python backend on a loaded machine); a measurement
            # request before they are in embeds what it needs itself.
            grid = [
                p for n in self.card.calibration.measurements for p in MEASUREMENTS[n].all_prompts()
            ]
            task = asyncio.create_task(self.text.pin(grid, request_id="warm-up"))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._measurement_warm_up = task

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one inference slot within the request deadline; OverloadedError (503) when
        none is free, RequestTimeoutError (504) when the work outlives the deadline. A slot
        covers receiving the upload too, so the studies held in memory at once are bounded by
        the slots."""
        async with self.slots.hold():
            try:
                async with asyncio.timeout(self.settings.request_timeout_s):
                    yield
            except TimeoutError:
                raise RequestTimeoutError(
                    f"the study was not processed within {self.settings.request_timeout_s:g} s"
                ) from None

    def ingestion(self) -> UploadIngestion:
        """The ingestion of one upload, fed file by file as its body arrives."""
        return UploadIngestion(self.card, self.limits)

    async def prepare(self, uploads: list[Upload]) -> PreparedStudy:
        return await asyncio.to_thread(prepare_study, uploads, self.card, self.limits)

    def dicomweb_source(self, name: str) -> DicomwebSource:
        """The configured source `name`; UnknownDicomwebSourceError (422) if there is none."""
        source = self.settings.dicomweb_sources.get(name)
        if source is None:
            raise UnknownDicomwebSourceError(
                "no DICOMweb source of that name is configured (CMR_DICOMWEB_SOURCES)"
            )
        return source

    async def prepare_reference(self, reference: StudyReference) -> PreparedStudy:
        """The referenced study, retrieved from its source and prepared (a worker thread).
        Raises UnknownDicomwebSourceError, StudyNotFoundError, the DICOMweb errors and the data
        layer's CmrErrors."""
        source = self.dicomweb_source(reference.dicomweb)
        return await asyncio.to_thread(
            prepare_referenced_study, source, reference.study_instance_uid, self.card, self.limits
        )

    async def store_in_source(self, reference: StudyReference, dataset: Dataset) -> None:
        """STOW-RS of `dataset` (a result's SR) into the source that holds the referenced
        study. Raises UnknownDicomwebSourceError and the DICOMweb errors."""
        source = self.dicomweb_source(reference.dicomweb)
        await asyncio.to_thread(store_instance, source, dataset)

    async def encode_upload(
        self, ingestion: UploadIngestion, receive_ms: float, request_id: str
    ) -> tuple[PreparedStudy, VideoEmbeddings]:
        """The ingested upload that took `receive_ms` to arrive, and its embeddings. Raises the
        data layer's and the backend's CmrErrors."""
        prepared = await ingestion.finish()
        prepared.timings_ms = {"receive": receive_ms, **prepared.timings_ms}
        return prepared, await self.encode_study(prepared, request_id)

    async def encode_study(self, prepared: PreparedStudy, request_id: str) -> VideoEmbeddings:
        started = time.perf_counter()
        model_input = prepared.model_input
        batch = VideoBatch(
            sax=model_input.sax[None].astype(np.float32),
            lax=model_input.lax[None].astype(np.float32),
            lax_present=model_input.lax_present[None].astype(np.float32),
        )
        embeddings = await self.backend.encode_video(batch, request_id)
        prepared.timings_ms["encode_video"] = elapsed_ms(started)
        return embeddings

    async def condition_vectors(
        self, scoring_set: ScoringSet, request_id: str, timings_ms: dict[str, float]
    ) -> ConditionVectors:
        """The directions and calibration each condition is scored with: prompt ensembles
        (embedded here, or from the cache), registered prototypes, or both. Raises the
        backend's errors, UnknownPrototypeError and PrototypeModelMismatchError."""
        started = time.perf_counter()
        none = np.zeros((0, self.card.embed_dim), dtype=np.float32)
        positives = [
            await self.text.prompts(p, request_id) if p else none for p in scoring_set.prompts
        ]
        negatives = (
            [
                await self.text.prompts(n, request_id) if n else none
                for n in scoring_set.negative_prompts
            ]
            if scoring_set.mode == "findings"
            else []
        )
        timings_ms["encode_text"] = elapsed_ms(started)
        prototypes = [self.prototypes.get(n) if n else None for n in scoring_set.prototypes]
        return condition_vectors(
            scoring_set,
            positives,
            negatives,
            self.card.logit_scale,
            self.card.calibration,
            shipped=scoring_set.name in self.condition_sets,
            prototypes=prototypes,
        )

    async def score(
        self,
        study_embedding: np.ndarray,
        scoring_set: ScoringSet,
        request_id: str,
        timings_ms: dict[str, float],
        vectors: ConditionVectors | None = None,
    ) -> list[ConditionScore]:
        """Scores of one unit study embedding (D,), sorted by probability, descending."""
        if vectors is None:
            vectors = await self.condition_vectors(scoring_set, request_id, timings_ms)
        started = time.perf_counter()
        scores = score_conditions(study_embedding, scoring_set, vectors)
        timings_ms["score"] = elapsed_ms(started)
        return scores


def make_backend(settings: ServingSettings, card: ModelCard) -> EncoderBackend:
    if settings.backend == "triton":
        from app.inference.triton import TritonBackend  # tritonclient only where used

        return TritonBackend(settings, card)
    from app.inference.embedded import EmbeddedBackend

    return EmbeddedBackend(settings.model_repository, card, settings.inference_threads)
