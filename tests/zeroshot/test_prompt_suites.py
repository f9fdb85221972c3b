"""The clinician phrasing suite: valid, large enough, balanced halves, clean labels, and written
apart from the generator (no sentence of its templates, no four-word run of its prompts)."""

import re
from collections import Counter

from app.domain.reading import mentioned_conditions
from app.domain.vocabulary import CONDITIONS, PARAPHRASE_HOLDOUT
from app.zeroshot.condition_sets import load_condition_sets
from app.zeroshot.prompt_suites import load_prompt_suite

SUITE = load_prompt_suite()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def test_at_least_150_phrasings_in_halves_of_equal_size_and_style() -> None:
    positives = [p for p in SUITE.phrasings if p.polarity == "positive"]
    assert len(positives) >= 150 and {p.label for p in SUITE.phrasings} == set(CONDITIONS)
    for label in CONDITIONS:
        for polarity in ("positive", "negated"):
            group = [p for p in SUITE.phrasings if p.label == label and p.polarity == polarity]
            halves = Counter(p.split for p in group)
            assert abs(halves["dev"] - halves["test"]) <= 1, (label, polarity)
            assert halves["test"] >= (4 if polarity == "negated" else 15)
    texts = [p.text.lower() for p in SUITE.phrasings]
    assert len(set(texts)) == len(texts)


def test_positive_phrasings_name_no_other_condition() -> None:
    for phrasing in SUITE.select("dev") + SUITE.select("test"):
        assert mentioned_conditions(phrasing.text) <= {phrasing.label}, phrasing.text


def test_no_four_word_run_of_the_shipped_or_paraphrase_prompts() -> None:
    prompts = [p for s in load_condition_sets().values() for c in s.conditions for p in c.prompts]
    prompts += [p for group in PARAPHRASE_HOLDOUT.values() for p in group]
    runs = {tuple(w[i : i + 4]) for p in prompts for w in [_words(p)] for i in range(len(w) - 3)}
    for phrasing in SUITE.phrasings:
        words = _words(phrasing.text)
        assert not {tuple(words[i : i + 4]) for i in range(len(words) - 3)} & runs, phrasing.text
