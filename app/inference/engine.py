"""What the gateway does with a study and a question, independent of HTTP.

uploads -> CineStudy -> ModelInput (one preprocessing function, shared with training) ->
backend -> unit embeddings -> zero-shot scores. CPU-bound steps run in worker threads and the
number of studies in flight is bounded by `InferenceSlots`, so the event loop stays free.
"""

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from app.config import IngestLimits, ServingSettings
from app.dicom.ingest import load_study
from app.dicom.sources import Upload
from app.dicom.study import CineStudy, StudyOutline
from app.errors import OverloadedError
from app.inference.backend import EncoderBackend, VideoBatch, VideoEmbeddings
from app.inference.text import TextEmbedder
from app.model_card import ModelCard, load_model_card
from app.preprocess.pipeline import ModelInput, preprocess_study
from app.text.tokenizer import load_tokenizer
from app.zeroshot.condition_sets import ConditionSet, load_condition_sets, prompt_set_hash
from app.zeroshot.scoring import ensemble, exclusive_probabilities, finding_probabilities

Mode = Literal["exclusive", "findings"]
DEFAULT_SETS: dict[Mode, str] = {
    "exclusive": "cardiac_diagnosis_v1",
    "findings": "cardiac_findings_v1",
}


@dataclass(frozen=True)
class ScoringSet:
    """The conditions one request is scored against: a shipped set or a custom list."""

    name: str
    mode: Mode
    labels: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]
    negative_prompts: tuple[tuple[str, ...], ...]
    sha256: str

    @classmethod
    def shipped(cls, condition_set: ConditionSet) -> "ScoringSet":
        return cls(
            name=condition_set.name,
            mode=condition_set.mode,
            labels=condition_set.labels,
            prompts=tuple(c.prompts for c in condition_set.conditions),
            negative_prompts=tuple(c.negative_prompts for c in condition_set.conditions),
            sha256=prompt_set_hash(condition_set),
        )

    @classmethod
    def custom(
        cls,
        mode: Mode,
        conditions: Sequence[tuple[str, Sequence[str], Sequence[str]]],
    ) -> "ScoringSet":
        """From (label, prompts, negative_prompts) triples; hashed like a shipped set."""
        canonical = json.dumps(
            [[label, list(p), list(n)] for label, p, n in conditions], separators=(",", ":")
        )
        return cls(
            name="custom",
            mode=mode,
            labels=tuple(label for label, _, _ in conditions),
            prompts=tuple(tuple(p) for _, p, _ in conditions),
            negative_prompts=tuple(tuple(n) for _, _, n in conditions),
            sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        )

    def all_prompts(self) -> list[str]:
        return [p for group in (*self.prompts, *self.negative_prompts) for p in group]


@dataclass(frozen=True)
class ConditionScore:
    label: str
    probability: float
    similarity: float
    rank: int
    threshold: float | None = None


@dataclass
class PreparedStudy:
    """An ingested and preprocessed study (no patient identifiers) and what it took. It
    holds the model's input and the study's outline, not the full-resolution cine."""

    outline: StudyOutline
    model_input: ModelInput
    timings_ms: dict[str, float] = field(default_factory=dict)


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


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def prepare_study(uploads: list[Upload], card: ModelCard, limits: IngestLimits) -> PreparedStudy:
    """Blocking: uploads -> CineStudy -> ModelInput. Raises the data layer's CmrErrors."""
    started = time.perf_counter()
    study = load_study(uploads, limits)
    return preprocessed(study, card, _elapsed_ms(started))


def preprocessed(study: CineStudy, card: ModelCard, parse_ms: float) -> PreparedStudy:
    """Blocking: the model input and outline of an ingested study that took `parse_ms`.

    The study's full-resolution pixels (about 80 MB for 12 slices x 25 phases) go with the
    caller's reference, in its worker thread: a request waiting for the encoder holds only the
    model input, and the event loop never frees them."""
    started = time.perf_counter()
    model_input = preprocess_study(study, card.input_spec)
    return PreparedStudy(
        study.outline(), model_input, {"parse": parse_ms, "preprocess": _elapsed_ms(started)}
    )


class InferenceEngine:
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
        self.slots = InferenceSlots(settings.max_concurrent_inferences, settings.max_queue_wait_s)
        self.limits = IngestLimits(max_files=settings.max_upload_files)

    @classmethod
    def from_settings(cls, settings: ServingSettings) -> "InferenceEngine":
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
        await self.backend.close()

    async def ready(self) -> None:
        """Raise unless the backend serves the card's model and the default prompts are cached
        (they are embedded here on first success, so readiness implies a warm cache)."""
        await self.backend.ready()
        prompts = [p for s in self.shipped_sets() for p in s.all_prompts()]
        if not self.text.is_pinned(prompts):
            await self.text.pin(prompts, request_id="warm-up")

    async def prepare(self, uploads: list[Upload]) -> PreparedStudy:
        return await asyncio.to_thread(prepare_study, uploads, self.card, self.limits)

    async def encode_study(self, prepared: PreparedStudy, request_id: str) -> VideoEmbeddings:
        started = time.perf_counter()
        model_input = prepared.model_input
        batch = VideoBatch(
            sax=model_input.sax[None].astype(np.float32),
            lax=model_input.lax[None].astype(np.float32),
            lax_present=model_input.lax_present[None].astype(np.float32),
        )
        embeddings = await self.backend.encode_video(batch, request_id)
        prepared.timings_ms["encode_video"] = _elapsed_ms(started)
        return embeddings

    async def score(
        self,
        study_embedding: np.ndarray,
        scoring_set: ScoringSet,
        request_id: str,
        timings_ms: dict[str, float],
    ) -> list[ConditionScore]:
        """Scores of one unit study embedding (D,), sorted by probability, descending."""
        started = time.perf_counter()
        positives = [await self.text.prompts(p, request_id) for p in scoring_set.prompts]
        negatives = (
            [await self.text.prompts(n, request_id) for n in scoring_set.negative_prompts]
            if scoring_set.mode == "findings"
            else []
        )
        timings_ms["encode_text"] = _elapsed_ms(started)
        started = time.perf_counter()
        positive = np.stack([ensemble(p) for p in positives])
        thresholds: dict[str, float] = {}
        if scoring_set.mode == "exclusive":
            probabilities, similarity = exclusive_probabilities(
                study_embedding[None],
                positive,
                self.card.logit_scale,
                self.card.calibration.temperature,
            )
        else:
            negative = np.stack([ensemble(n) for n in negatives])
            probabilities, similarity = finding_probabilities(
                study_embedding[None], positive, negative, self.card.logit_scale
            )
            if scoring_set.name in self.condition_sets:
                thresholds = self.card.calibration.thresholds
        order = np.argsort(-probabilities[0], kind="stable")
        scores = [
            ConditionScore(
                label=scoring_set.labels[i],
                probability=float(probabilities[0, i]),
                similarity=float(similarity[0, i]),
                rank=rank,
                threshold=thresholds.get(scoring_set.labels[i]),
            )
            for rank, i in enumerate(order, start=1)
        ]
        timings_ms["score"] = _elapsed_ms(started)
        return scores


def make_backend(settings: ServingSettings, card: ModelCard) -> EncoderBackend:
    if settings.backend == "triton":
        from app.inference.triton import TritonBackend  # tritonclient only where used

        return TritonBackend(settings, card)
    from app.inference.embedded import EmbeddedBackend

    return EmbeddedBackend(settings.model_repository, card, settings.inference_threads)
