"""The text embedder sends every sentence at the card's full token length (so that Triton's
dynamic batcher can merge concurrent requests), and padding leaves the embeddings unchanged."""

import asyncio
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.inference.text import TextEmbedder
from app.model_card import load_model_card
from app.text.tokenizer import encode_sentences, load_tokenizer
from app.zeroshot.scoring import normalize

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
TEXTS = ["Dilated LV. Severely reduced EF.", "normal heart", "small pericardial effusion"]


class RecordingBackend:
    """The released text encoder in onnxruntime, recording the shapes it was sent."""

    def __init__(self) -> None:
        self.session = ort.InferenceSession(str(REPOSITORY / "cmr_text_encoder/1/model.onnx"))
        self.shapes: list[tuple[int, ...]] = []

    async def encode_sentences(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, request_id: str
    ) -> np.ndarray:
        self.shapes.append(input_ids.shape)
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        return self.session.run(None, feeds)[0]


def test_sentences_go_out_at_full_length_and_embed_as_unpadded() -> None:
    card = load_model_card(REPOSITORY)
    tokenizer = load_tokenizer(REPOSITORY / card.text.tokenizer)
    backend = RecordingBackend()
    embedder = TextEmbedder(backend, tokenizer, card.text, cache_size=8)  # type: ignore[arg-type]
    embedded = asyncio.run(embedder.embed(TEXTS, "req"))
    assert backend.shapes == [(4, card.text.max_tokens)]  # 2 + 1 + 1 sentences

    ids, mask, sentence_mask = encode_sentences(
        tokenizer, TEXTS, card.text.max_tokens, card.text.max_sentences
    )
    assert ids.shape[-1] < card.text.max_tokens  # the tokenizer pads to the longest only
    expected = []
    for text_ids, text_mask, present in zip(ids, mask, sentence_mask, strict=True):
        feeds = {"input_ids": text_ids[present == 1], "attention_mask": text_mask[present == 1]}
        expected.append(backend.session.run(None, feeds)[0].mean(axis=0))
    np.testing.assert_allclose(embedded, normalize(np.stack(expected)), atol=1e-5)
