"""Impression text -> token ids, for the text encoder (training) and the gateway (prompts).

The tokenizer is the pretrained text tower's own (all-MiniLM-L6-v2: uncased WordPiece, 30 522
tokens, `[CLS] tokens [SEP]`), a `tokenizer.json` read with Hugging Face `tokenizers` that
travels with the released model byte for byte. Its file pads and truncates every sequence to
128 tokens; `load_tokenizer` turns both off, since `encode_batch` cuts and pads itself.
Long impressions are encoded sentence by sentence (`encode_sentences`) and pooled by the model,
so no finding is lost to truncation. No torch here: the gateway imports this module.
"""

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"
PAD_ID = 0


def parse_tokenizer(text: str) -> Tokenizer:
    """A tokenizer from the JSON text of a `tokenizer.json`, padding and truncation off.

    Raises ValueError if it is not a tokenizer, or lacks [CLS], [SEP], [UNK] or [PAD] at id 0.
    """
    try:
        tokenizer = Tokenizer.from_str(text)
    except Exception as error:  # tokenizers raises a bare Exception on malformed JSON
        raise ValueError(f"not a tokenizer file: {error}") from error
    if tokenizer.token_to_id(PAD) != PAD_ID or None in (
        tokenizer.token_to_id(token) for token in (UNK, CLS, SEP)
    ):
        raise ValueError(f"a tokenizer needs {PAD} at id {PAD_ID} and {UNK}, {CLS}, {SEP}")
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a `tokenizer.json` (see `parse_tokenizer`). Raises ValueError."""
    try:
        return parse_tokenizer(Path(path).read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def encode_batch(
    tokenizer: Tokenizer, texts: Sequence[str], max_tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of `texts`, one row per text.

    Each row is `[CLS] tokens [SEP]`, cut to `max_tokens` (the [SEP] kept) and padded with
    [PAD] to the longest row. Returns (ids, attention_mask), both int64 (B, L) with
    L <= max_tokens; mask 1 on tokens, 0 on padding. Raises ValueError if `texts` is empty or
    `max_tokens` < 2.
    """
    if max_tokens < 2:
        raise ValueError(f"max_tokens must leave room for [CLS] and [SEP], got {max_tokens}")
    if len(texts) == 0:
        raise ValueError("no texts to encode")
    sep_id = tokenizer.token_to_id(SEP)
    rows = [encoding.ids for encoding in tokenizer.encode_batch(list(texts))]
    rows = [row if len(row) <= max_tokens else [*row[: max_tokens - 1], sep_id] for row in rows]
    length = max(len(row) for row in rows)
    ids = np.full((len(rows), length), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


# --- sentences -----------------------------------------------------------------------------
_LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|[-*•])\s+")  # "1. ", "2) ", "(3) ", "- "
_SENTENCE_END = re.compile(r"[.!?]\s+")
# Words whose period does not end a sentence (lower case, without the period).
_ABBREVIATIONS = frozenset({"approx", "e.g", "i.e", "vs", "cf", "fig"})


def split_sentences(text: str) -> list[str]:
    """The sentences of an impression, stripped, in order; list markers ("1.", "2)") removed.

    Lines are sentences of their own (numbered impressions put one item per line); within a
    line a sentence ends at ".", "!" or "?" followed by whitespace, except after a listed
    abbreviation ("approx.", "e.g.", "vs.") and except for a list marker ("... 2. Next").
    A period inside a number ("2.5 mm") never ends a sentence. Empty text gives [].
    """
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _SENTENCE_END.finditer(line):
            piece = line[start : match.start() + 1]
            words = piece.split()
            last_word = words[-1][:-1].lstrip("([").lower() if words else ""
            if last_word in _ABBREVIATIONS or _LIST_MARKER.fullmatch(piece + " "):
                continue
            sentences.append(piece)
            start = match.end()
        sentences.append(line[start:])
    stripped = (_LIST_MARKER.sub("", sentence).strip() for sentence in sentences)
    return [sentence for sentence in stripped if sentence]


def impression_sentences(text: str, max_sentences: int) -> list[str]:
    """The sentences a text is encoded as: at most `max_sentences`, the first ones and always
    the last (a conclusion opens or closes an impression); a text without any is one empty
    sentence, so every text has an embedding."""
    sentences = split_sentences(text)
    if not sentences:
        return [""]
    if len(sentences) <= max_sentences:
        return sentences
    return [*sentences[: max_sentences - 1], sentences[-1]]


def encode_sentences(
    tokenizer: Tokenizer, texts: Sequence[str], max_tokens: int, max_sentences: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode each text sentence by sentence (see `split_sentences`), for pooling in the model.

    A text with more than `max_sentences` sentences keeps its first `max_sentences - 1` and its
    last (a conclusion opens or closes an impression); a text without any is one empty
    sentence. Sentences are encoded as by `encode_batch` and padded to the longest sentence of
    the batch; texts are padded with absent sentences (all [PAD], mask 0) to the largest count.

    Returns (ids, attention_mask, sentence_mask): int64 (B, S, L), (B, S, L) and (B, S), with
    S <= max_sentences, L <= max_tokens; sentence_mask 1 where a sentence is present.
    Raises ValueError if `texts` is empty, `max_tokens` < 2 or `max_sentences` < 1.
    """
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")
    if len(texts) == 0:
        raise ValueError("no texts to encode")
    per_text = [impression_sentences(text, max_sentences) for text in texts]
    flat_ids, flat_mask = encode_batch(
        tokenizer, [s for group in per_text for s in group], max_tokens
    )
    B, S, L = len(texts), max(len(group) for group in per_text), flat_ids.shape[1]
    ids = np.full((B, S, L), PAD_ID, dtype=np.int64)
    mask = np.zeros((B, S, L), dtype=np.int64)
    sentence_mask = np.zeros((B, S), dtype=np.int64)
    row = 0
    for b, group in enumerate(per_text):
        count = len(group)
        ids[b, :count] = flat_ids[row : row + count]  # (count, L)
        mask[b, :count] = flat_mask[row : row + count]
        sentence_mask[b, :count] = 1
        row += count
    return ids, mask, sentence_mask
