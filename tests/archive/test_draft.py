"""Draft impressions are traceable: every sentence states a finding above its threshold or
quotes, verbatim and attributed, a similar case that asserts nothing the findings deny."""

import numpy as np
import pytest
from archive_helpers import LABELS, hit, scores
from hypothesis import given, settings
from hypothesis import strategies as st

from app.archive.models import SearchHit
from app.domain.reading import mentioned_conditions
from app.domain.vocabulary import PRIMARY_DIAGNOSES
from app.reporting.draft import FINDING_SENTENCES, NO_FINDING_SENTENCE, Draft, draft_impression
from app.synth.findings import Findings
from app.synth.impressions import write_impression
from app.synth.params import sample_heart


def synthetic_impression(seed: int) -> str:
    rng = np.random.default_rng(seed)
    heart = sample_heart(rng, PRIMARY_DIAGNOSES[seed % len(PRIMARY_DIAGNOSES)])
    return write_impression(Findings.from_heart(heart), "narrative", rng)


def assert_traceable(draft: Draft, similar: list[SearchHit]) -> None:
    asserted = set(draft.asserted)
    present = {f.label for f in draft.findings if f.present}
    assert asserted <= present
    by_key = {h.study_key: h for h in similar}
    for sentence in draft.sentences:
        if sentence.source == "finding":
            assert sentence.label is None or mentioned_conditions(sentence.text) == {sentence.label}
            assert sentence.label is None or sentence.label in asserted
        else:
            assert sentence.quote is not None and sentence.study_key in by_key
            assert sentence.quote in by_key[sentence.study_key].impression
            assert sentence.quote in sentence.text and sentence.study_key in sentence.text
            assert sentence.label in mentioned_conditions(sentence.quote) <= asserted


def test_every_finding_has_a_sentence_that_reads_back_as_itself() -> None:
    assert set(FINDING_SENTENCES) == set(LABELS)
    for label, sentence in FINDING_SENTENCES.items():
        assert mentioned_conditions(sentence) == {label}, label


def test_findings_above_threshold_are_stated_and_supported_by_similar_cases() -> None:
    similar = [
        hit("case-1", "Normal LV size. The left ventricle is dilated. Small pericardial effusion."),
        hit("case-2", "Dilated LV with severely reduced LVEF of 20%; no pericardial effusion."),
        hit("case-3", "Asymmetric septal hypertrophy. Dilated left ventricle."),
    ]
    draft = draft_impression(scores({"dilated_cardiomyopathy"}), similar, quotes_per_finding=2)
    assert draft.asserted == ["dilated_cardiomyopathy"]
    quotes = [s for s in draft.sentences if s.source == "similar_case"]
    assert [q.study_key for q in quotes] == ["case-1", "case-2"]  # case-3 also asserts HCM
    assert quotes[0].quote == "The left ventricle is dilated."
    assert draft.text.startswith(FINDING_SENTENCES["dilated_cardiomyopathy"])
    assert_traceable(draft, similar)


def test_normal_is_stated_only_when_nothing_else_is_present() -> None:
    draft = draft_impression(scores({"normal", "pericardial_effusion"}), [])
    assert draft.asserted == ["pericardial_effusion"]
    assert draft_impression(scores({"normal"}), []).asserted == ["normal"]


def test_no_finding_above_threshold_says_so() -> None:
    draft = draft_impression(scores(set()), [hit("case-1", "Dilated LV.")])
    assert draft.asserted == [] and draft.text == NO_FINDING_SENTENCE
    assert draft.sentences[0].source == "finding"


def test_findings_are_stated_most_probable_first() -> None:
    probabilities = {"pericardial_effusion": 0.95, "hypertrophic_cardiomyopathy": 0.7}
    draft = draft_impression(scores(set(), probabilities), [])
    assert draft.asserted == ["pericardial_effusion", "hypertrophic_cardiomyopathy"]


@settings(max_examples=40, deadline=None)
@given(
    present=st.sets(st.sampled_from(LABELS)),
    seeds=st.lists(st.integers(0, 10_000), min_size=0, max_size=6),
)
def test_drafts_from_any_findings_and_cases_are_traceable(
    present: set[str], seeds: list[int]
) -> None:
    similar = [
        hit(f"case-{s}", synthetic_impression(s), 0.99 - i / 100) for i, s in enumerate(seeds)
    ]
    draft = draft_impression(scores(present), similar, quotes_per_finding=3)
    assert_traceable(draft, similar)
    assert draft.sentences, "a draft is never empty"


@pytest.mark.parametrize("label", LABELS)
def test_a_quote_never_adds_a_finding(label: str) -> None:
    """A case sentence asserting `label` next to another condition is never quoted alone."""
    other = next(other for other in LABELS if other not in (label, "normal"))
    text = f"{FINDING_SENTENCES[label]} and {FINDING_SENTENCES[other].lower()}."
    assert mentioned_conditions(text) == {label, other}
    draft = draft_impression(scores({label}), [hit("case-1", text)])
    assert not [s for s in draft.sentences if s.source == "similar_case"]
