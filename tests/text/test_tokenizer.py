"""Tokenizer: the pretrained tower's own WordPiece file, read with padding and truncation off;
sentences split, encoded, padded and cut as the text encoder expects."""

import json
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from app.model.pretrained import read_tower_files
from app.synth.findings import Findings
from app.synth.impressions import REPORT_STYLES, write_impression
from app.synth.params import sample_heart
from app.text.tokenizer import (
    CLS,
    PAD_ID,
    SEP,
    UNK,
    encode_batch,
    encode_sentences,
    load_tokenizer,
    parse_tokenizer,
    split_sentences,
)


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    rng = np.random.default_rng(0)
    return [
        write_impression(Findings.from_heart(sample_heart(rng)), style, rng)
        for style in (REPORT_STYLES[i % len(REPORT_STYLES)] for i in range(200))
    ]


@pytest.fixture(scope="module")
def tokenizer_json() -> str:
    return read_tower_files().tokenizer_json.decode("utf-8")


@pytest.fixture(scope="module")
def tokenizer(tokenizer_json: str) -> Tokenizer:
    return parse_tokenizer(tokenizer_json)


def _squash(text: str) -> str:
    """What a lossless encoding must keep: the normalised text without whitespace."""
    text = unicodedata.normalize("NFKD", text).lower()
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", "", text)


def test_the_tower_file_pads_and_truncates_but_the_loaded_tokenizer_does_not(
    tokenizer_json: str, tokenizer: Tokenizer
) -> None:
    stored = json.loads(tokenizer_json)
    assert stored["padding"] is not None and stored["truncation"]["max_length"] == 128
    long_text = "dilated left ventricle " * 100
    assert len(tokenizer.encode(long_text).ids) > 128
    assert len(tokenizer.encode("normal study").ids) == 4  # [CLS] normal study [SEP]
    assert tokenizer.token_to_id("[PAD]") == PAD_ID


def test_clinical_text_round_trips_without_unknown_tokens(
    tokenizer: Tokenizer, corpus: list[str]
) -> None:
    unk = tokenizer.token_to_id(UNK)
    for text in corpus[:50]:
        encoding = tokenizer.encode(text)
        assert unk not in encoding.ids
        decoded = tokenizer.decode(encoding.ids)
        assert _squash(decoded).replace("#", "") == _squash(text).replace("²", "2")


def test_load_reads_a_file_and_rejects_others(tmp_path: Path, tokenizer_json: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(tokenizer_json, encoding="utf-8")
    assert (
        load_tokenizer(path).encode("LVEF 35%").ids
        == parse_tokenizer(tokenizer_json).encode("LVEF 35%").ids
    )
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a tokenizer"):
        load_tokenizer(path)
    missing_pad = json.loads(tokenizer_json)
    missing_pad["model"]["vocab"]["[PAD]"], missing_pad["model"]["vocab"]["[X]"] = 999_999, 0
    missing_pad["added_tokens"] = []
    with pytest.raises(ValueError):
        parse_tokenizer(json.dumps(missing_pad))


def test_encode_batch_pads_to_longest(tokenizer: Tokenizer) -> None:
    texts = ["Normal study.", "Dilated cardiomyopathy with severely reduced LVEF of 21%."]
    ids, mask = encode_batch(tokenizer, texts, max_tokens=64)
    lengths = [len(tokenizer.encode(t).ids) for t in texts]
    assert ids.dtype == np.int64 and mask.dtype == np.int64
    assert ids.shape == mask.shape == (2, max(lengths))
    assert mask.sum(axis=1).tolist() == lengths
    assert (ids[mask == 0] == PAD_ID).all()
    assert (ids[:, 0] == tokenizer.token_to_id(CLS)).all()
    assert ids[0, lengths[0] - 1] == tokenizer.token_to_id(SEP)


def test_encode_batch_truncates_keeping_sep(tokenizer: Tokenizer, corpus: list[str]) -> None:
    long_text = " ".join(corpus[:5])
    ids, mask = encode_batch(tokenizer, [long_text, "Normal study."], max_tokens=16)
    assert ids.shape == (2, 16)
    full = tokenizer.encode(long_text).ids
    assert ids[0].tolist() == [*full[:15], tokenizer.token_to_id(SEP)]
    assert mask[0].all()


def test_encode_batch_rejects_bad_arguments(tokenizer: Tokenizer) -> None:
    with pytest.raises(ValueError):
        encode_batch(tokenizer, [], 16)
    with pytest.raises(ValueError):
        encode_batch(tokenizer, ["x"], 1)


def test_split_numbered_impression() -> None:
    text = (
        "1. Normal left ventricular ejection fraction (LVEF of 70%).\n"
        "2. Probable moderate right ventricular dilatation (RVEDV 295 mL, RVEF 41.5%).\n"
        "3. No LV hypertrophy.\n"
        "10) Appearances in keeping with right ventricular dilatation."
    )
    assert split_sentences(text) == [
        "Normal left ventricular ejection fraction (LVEF of 70%).",
        "Probable moderate right ventricular dilatation (RVEDV 295 mL, RVEF 41.5%).",
        "No LV hypertrophy.",
        "Appearances in keeping with right ventricular dilatation.",
    ]


def test_split_narrative_impression() -> None:
    text = (
        "Left ventricular systolic function is preserved, LVEF of 65%. There is a small "
        "pericardial effusion, approx. 8 mm, e.g. no collapse.  Regional wall motion is normal! "
        "Taken together: normal study?"
    )
    assert split_sentences(text) == [
        "Left ventricular systolic function is preserved, LVEF of 65%.",
        "There is a small pericardial effusion, approx. 8 mm, e.g. no collapse.",
        "Regional wall motion is normal!",
        "Taken together: normal study?",
    ]


def test_split_inline_numbering_and_blanks() -> None:
    assert split_sentences("1. Dilated LV. 2. Reduced LVEF.\n\n- Small effusion") == [
        "Dilated LV.",
        "Reduced LVEF.",
        "Small effusion",
    ]
    assert split_sentences("") == split_sentences(" \n ") == []


def test_split_keeps_every_generated_sentence(corpus: list[str]) -> None:
    for text in corpus[:60]:
        sentences = split_sentences(text)
        assert all(s.endswith(".") for s in sentences), text
        assert _squash("".join(sentences)) == _squash(re.sub(r"(?m)^\d+\. ", "", text))


def test_encode_sentences_shapes_and_masks(tokenizer: Tokenizer, corpus: list[str]) -> None:
    texts = [corpus[0], "Normal study.", ""]
    ids, mask, sentence_mask = encode_sentences(tokenizer, texts, max_tokens=32, max_sentences=6)
    counts = [min(len(split_sentences(t)), 6) or 1 for t in texts]
    assert ids.shape[:2] == (3, max(counts)) and ids.shape[2] <= 32
    B, S, _ = ids.shape
    assert mask.shape == ids.shape and sentence_mask.shape == (B, S)
    assert sentence_mask.sum(axis=1).tolist() == counts
    assert (mask.sum(axis=2) > 0).astype(np.int64).tolist() == sentence_mask.tolist()
    assert (ids[sentence_mask == 0] == PAD_ID).all()
    # Each present sentence is what encode_batch gives for it alone.
    first = split_sentences(texts[0])[0]
    alone, _ = encode_batch(tokenizer, [first], 32)
    np.testing.assert_array_equal(ids[0, 0, : alone.shape[1]], alone[0])
    # An empty text is one empty sentence: [CLS] [SEP].
    assert ids[2, 0, :2].tolist() == [tokenizer.token_to_id(CLS), tokenizer.token_to_id(SEP)]


def test_encode_sentences_keeps_the_last_sentence(tokenizer: Tokenizer) -> None:
    text = "Normal study. Small pericardial effusion. No hypertrophy. Dilated cardiomyopathy."
    ids, _, sentence_mask = encode_sentences(tokenizer, [text], max_tokens=16, max_sentences=2)
    assert sentence_mask.tolist() == [[1, 1]]
    expected, _ = encode_batch(tokenizer, ["Normal study.", "Dilated cardiomyopathy."], 16)
    np.testing.assert_array_equal(ids[0, :, : expected.shape[1]], expected)


def test_encode_sentences_is_deterministic(tokenizer: Tokenizer, corpus: list[str]) -> None:
    first = encode_sentences(tokenizer, corpus[:16], 48, 8)
    second = encode_sentences(tokenizer, corpus[:16], 48, 8)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
