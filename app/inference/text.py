"""Text -> unit embeddings through any backend, with the prompt cache.

An impression or prompt is split into sentences, every sentence goes through the text encoder,
and the text's embedding is the normalised mean of its sentences: exactly what training did
(`CmrClip.encode_text`). Sentences are always padded to the card's `max_tokens` (masked padding
leaves the embedding unchanged): Triton's dynamic batcher merges only requests of equal shape,
and concurrent requests of mixed lengths stall it (bench/bench_triton_shapes.py: 4 concurrent
requests take 505 ms over gRPC with two lengths mixed, 3.7 ms at one length).

Prompt embeddings are cached: the default condition sets' prompts are pinned for the life of the
process (one model version per process), custom prompts live in a bounded LRU.
"""

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np
from tokenizers import Tokenizer

from app.inference.backend import EncoderBackend
from app.model_card import TextSpec
from app.text.tokenizer import PAD_ID, encode_sentences
from app.zeroshot.scoring import normalize


class TextEmbedder:
    def __init__(
        self,
        backend: EncoderBackend,
        tokenizer: Tokenizer,
        spec: TextSpec,
        cache_size: int,
    ) -> None:
        self._backend = backend
        self._tokenizer = tokenizer
        self._spec = spec
        self._cache_size = cache_size
        self._pinned: dict[str, np.ndarray] = {}
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    async def embed(self, texts: Sequence[str], request_id: str) -> np.ndarray:
        """Unit embeddings (N, D) float32 of `texts` (N >= 1), in order. Not cached."""
        ids, mask, sentence_mask = encode_sentences(
            self._tokenizer, texts, self._spec.max_tokens, self._spec.max_sentences
        )
        n_texts, n_sentences, length = ids.shape
        present = sentence_mask.reshape(-1).astype(bool)  # (N*S,)
        pad = ((0, 0), (0, self._spec.max_tokens - length))
        flat_ids = np.pad(ids.reshape(-1, length)[present], pad, constant_values=PAD_ID)
        flat_mask = np.pad(mask.reshape(-1, length)[present], pad, constant_values=0)
        # One call: a backend with a batch cap (Triton's max_batch_size) splits it itself.
        encoded = await self._backend.encode_sentences(flat_ids, flat_mask, request_id)
        sentences = np.zeros((n_texts * n_sentences, encoded.shape[-1]), dtype=np.float32)
        sentences[present] = encoded
        sentences = sentences.reshape(n_texts, n_sentences, -1)  # (N, S, D)
        weights = sentence_mask[..., None].astype(np.float32)  # (N, S, 1)
        mean = (sentences * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return normalize(mean).astype(np.float32)

    async def pin(self, prompts: Iterable[str], request_id: str) -> None:
        """Embed and keep `prompts` for the life of the process (the default sets)."""
        missing = sorted(set(prompts) - self._pinned.keys())
        if missing:
            self._pinned.update(zip(missing, await self.embed(missing, request_id), strict=True))

    def is_pinned(self, prompts: Iterable[str]) -> bool:
        return all(prompt in self._pinned for prompt in prompts)

    async def prompts(self, prompts: Sequence[str], request_id: str) -> np.ndarray:
        """Unit embeddings (P, D) of prompts, from the caches where possible."""
        unique = list(dict.fromkeys(prompts))
        known = {p: vector for p in unique if (vector := self._cached(p)) is not None}
        missing = [p for p in unique if p not in known]
        if missing:
            for prompt, vector in zip(missing, await self.embed(missing, request_id), strict=True):
                known[prompt] = vector
                self._remember(prompt, vector)
        return np.stack([known[prompt] for prompt in prompts])

    def _cached(self, prompt: str) -> np.ndarray | None:
        if prompt in self._pinned:
            return self._pinned[prompt]
        vector = self._recent.get(prompt)
        if vector is not None:
            self._recent.move_to_end(prompt)
        return vector

    def _remember(self, prompt: str, vector: np.ndarray) -> None:
        if self._cache_size == 0:
            return
        self._recent[prompt] = vector
        self._recent.move_to_end(prompt)
        while len(self._recent) > self._cache_size:
            self._recent.popitem(last=False)
