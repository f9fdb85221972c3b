"""Impression text -> token ids, for the text encoder (training) and the gateway (prompts).

A BPE vocabulary is learned from impressions with Hugging Face `tokenizers` and kept as one
`tokenizer.json`, which travels with the released model. Text is NFKD-normalised, lower-cased and
stripped of accents ("mL/m²" -> "ml/m2"), split at whitespace and punctuation, and every digit is
its own token, so "LVEF 27%" and "LVEF 72%" share their pieces and no number is out of
vocabulary. Each sequence is `[CLS] tokens [SEP]`, padded with `[PAD]` (id 0).

Why BPE without a "##" continuing-subword prefix rather than WordPiece: the library creates the
prefixed tokens in hash-map order, so WordPiece training gives a different vocabulary from run to
run (huggingface/tokenizers#1794); plain BPE breaks ties by token id and is reproducible. Word
boundaries are still kept by the pre-tokenizer, which runs before BPE at encoding time too.

Long impressions are encoded sentence by sentence (`encode_sentences`) and pooled by the model,
so no finding is lost to truncation. No torch here: the gateway imports this module.
"""

import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer

PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, CLS, SEP)  # ids 0..3, in this order
PAD_ID = 0
DEFAULT_VOCAB_SIZE = 4096  # an upper bound: a small corpus yields fewer tokens
# Always in the vocabulary, so any ASCII prompt a clinician types encodes without [UNK].
_ALPHABET = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE, min_frequency: int = 2
) -> Tokenizer:
    """Learn a BPE tokenizer from `texts` (impressions). Deterministic for equal input.

    The vocabulary holds SPECIAL_TOKENS (ids 0..3), the ASCII letters, digits and punctuation,
    and the merged pieces seen at least `min_frequency` times, up to `vocab_size` in all.
    Raises ValueError if `vocab_size` cannot hold the special tokens and alphabet.
    """
    if vocab_size < len(SPECIAL_TOKENS) + len(_ALPHABET):
        raise ValueError(f"vocab_size {vocab_size} is too small for the special tokens+alphabet")
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKD(), normalizers.Lowercase(), normalizers.StripAccents()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Digits(individual_digits=True)]
    )
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=_ALPHABET,
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id(CLS), tokenizer.token_to_id(SEP)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}", special_tokens=[(CLS, cls_id), (SEP, sep_id)]
    )
    _check_special_tokens(tokenizer)
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, path: str | Path) -> None:
    """Write the whole tokenizer (vocabulary, normaliser, template) as one JSON file."""
    Path(path).write_text(tokenizer.to_str(pretty=True), encoding="utf-8")


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a `tokenizer.json` written by `save_tokenizer`.

    Raises ValueError if it is not a tokenizer with SPECIAL_TOKENS at ids 0..3.
    """
    try:
        tokenizer = Tokenizer.from_str(Path(path).read_text(encoding="utf-8"))
    except Exception as error:  # tokenizers raises a bare Exception on malformed JSON
        raise ValueError(f"{path} is not a tokenizer file: {error}") from error
    _check_special_tokens(tokenizer)
    return tokenizer


def _check_special_tokens(tokenizer: Tokenizer) -> None:
    ids = [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
    if ids != list(range(len(SPECIAL_TOKENS))):
        raise ValueError(f"special tokens {SPECIAL_TOKENS} must have ids 0..3, got {ids}")


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


def _select_sentences(sentences: list[str], max_sentences: int) -> list[str]:
    """At most `max_sentences`: the first ones and always the last, where conclusions go."""
    if not sentences:
        return [""]  # still one sequence, "[CLS] [SEP]", so every text has an embedding
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
    per_text = [_select_sentences(split_sentences(text), max_sentences) for text in texts]
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
