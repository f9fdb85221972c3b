"""A preliminary impression assembled from evidence, never written freely.

Retrieval-augmented like EchoPrime: the zero-shot findings decide what the draft asserts, the
nearest archived cases lend their own words. Every sentence has exactly one source:
- `measurement`: an estimate by prompt ranking with its interval (LVEF, volumes), after the
  findings;
- `finding`: a fixed sentence for a finding whose probability reached its calibrated threshold
  (or, when none did, one sentence saying so), naming the slices that drove it where known;
- `similar_case`: a sentence quoted verbatim from a similar case's impression, with that case's
  study key and similarity. A sentence is quoted only if every condition it asserts (read back
  with app.domain.reading.mentioned_conditions, negations understood) is a finding the draft
  asserts, so a quote can support the findings but never add one. Quotes keep the other
  patient's numbers, which is why each names its case instead of blending into the text.
"""

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.archive.models import SearchHit
from app.domain.reading import mentioned_conditions
from app.pipeline.measure import Measurement
from app.zeroshot.scoring_sets import ConditionScore

# One sentence per finding of cardiac_findings_v1, worded so that mentioned_conditions reads
# back exactly its own label (tests/archive/test_draft.py checks both).
FINDING_SENTENCES: dict[str, str] = {
    "normal": "Structurally and functionally normal heart",
    "dilated_cardiomyopathy": (
        "Dilated left ventricle with reduced systolic function, suggesting dilated cardiomyopathy"
    ),
    "hypertrophic_cardiomyopathy": (
        "Left ventricular hypertrophy, suggesting hypertrophic cardiomyopathy"
    ),
    "myocardial_infarction": "Regional wall motion abnormality, suggesting myocardial infarction",
    "abnormal_right_ventricle": (
        "Abnormal right ventricle: dilated and/or with reduced systolic function"
    ),
    "pericardial_effusion": "Pericardial effusion",
}
NO_FINDING_SENTENCE = "No finding reached its decision threshold."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class FindingResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    probability: float = Field(ge=0, le=1)
    threshold: float | None = Field(None, description="calibrated decision threshold")
    present: bool = Field(description="probability >= threshold")
    driving_slices: str | None = Field(
        None, description="present findings: the clips that drove it, in words (occlusion)"
    )


class DraftSentence(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    source: Literal["finding", "measurement", "similar_case"]
    label: str | None = Field(None, description="the finding it states or supports")
    study_key: str | None = Field(None, description="the similar case it quotes")
    similarity: float | None = Field(None, description="of the quoted case to this study")
    quote: str | None = Field(None, description="the sentence quoted verbatim from that case")


class Draft(BaseModel):
    model_config = ConfigDict(frozen=True)

    findings: list[FindingResult]
    asserted: list[str] = Field(description="labels the draft states, in sentence order")
    sentences: list[DraftSentence]
    measurements: list[Measurement] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(sentence.text for sentence in self.sentences)


def finding_results(
    scores: Sequence[ConditionScore], driving: dict[str, str] | None = None
) -> list[FindingResult]:
    """Findings-mode scores -> results with the threshold decision (no threshold: absent) and,
    for present ones, the words of `driving` (label -> "basal to mid short-axis slices")."""
    results = []
    for s in scores:
        present = s.threshold is not None and s.probability >= s.threshold
        words = (driving or {}).get(s.label) if present else None
        results.append(
            FindingResult(
                label=s.label,
                probability=s.probability,
                threshold=s.threshold,
                present=present,
                driving_slices=words or None,
            )
        )
    return results


def asserted_labels(findings: Sequence[FindingResult]) -> list[str]:
    """Present findings, most probable first; 'normal' only when nothing else is present (the
    label means the absence of every other finding, so stating both would contradict)."""
    present = [f for f in sorted(findings, key=lambda f: -f.probability) if f.present]
    abnormal = [f.label for f in present if f.label != "normal"]
    return abnormal or [f.label for f in present]


def draft_impression(
    scores: Sequence[ConditionScore],
    similar: Sequence[SearchHit],
    quotes_per_finding: int = 1,
    driving: dict[str, str] | None = None,
    measurements: Sequence[Measurement] = (),
) -> Draft:
    """The draft of one study from its findings-mode scores (thresholds set), its similar
    cases (most similar first) and, where given, the slices that drove each finding and the
    measurements by prompt ranking (one sentence each, after the findings)."""
    findings = finding_results(scores, driving)
    asserted = asserted_labels(findings)
    by_label = {f.label: f for f in findings}
    sentences: list[DraftSentence] = []
    quoted: set[str] = set()
    for label in asserted:
        sentences.append(_finding_sentence(by_label[label]))
        supporting = _supporting(similar, label, set(asserted), quoted)[:quotes_per_finding]
        for hit, quote in supporting:
            quoted.add(quote)
            sentences.append(_quote_sentence(hit, quote, label))
    if not asserted:
        sentences.append(DraftSentence(text=NO_FINDING_SENTENCE, source="finding"))
    sentences += [_measurement_sentence(m) for m in measurements]
    return Draft(
        findings=findings, asserted=asserted, sentences=sentences, measurements=list(measurements)
    )


def _finding_sentence(finding: FindingResult) -> DraftSentence:
    where = f"; driven by the {finding.driving_slices}" if finding.driving_slices else ""
    return DraftSentence(
        text=f"{FINDING_SENTENCES[finding.label]} (probability {finding.probability:.2f}; "
        f"threshold {finding.threshold:.2f}{where}).",
        source="finding",
        label=finding.label,
    )


def _measurement_sentence(m: Measurement) -> DraftSentence:
    """E.g. "LV ejection fraction estimated at 41 % (90 % interval 29 to 53 %), by prompt
    ranking." Numbers only: grade words ("dilated") would read as a finding the draft may not
    assert (app.domain.reading), and the findings speak for themselves."""
    unit = f" {m.unit}"
    return DraftSentence(
        text=f"{m.label} estimated at {m.value:.0f}{unit} ({m.coverage:.0%} interval "
        f"{m.lower:.0f} to {m.upper:.0f}{unit}), by prompt ranking.",
        source="measurement",
    )


def _quote_sentence(hit: SearchHit, quote: str, label: str) -> DraftSentence:
    return DraftSentence(
        text=f'Similar case {hit.study_key} (similarity {hit.similarity:.2f}): "{quote}"',
        source="similar_case",
        label=label,
        study_key=hit.study_key,
        similarity=hit.similarity,
        quote=quote,
    )


def _supporting(
    similar: Sequence[SearchHit], label: str, asserted: set[str], quoted: set[str]
) -> list[tuple[SearchHit, str]]:
    """Sentences of the similar cases (most similar first) that assert `label` and nothing
    outside `asserted`, not quoted yet."""
    found = []
    for hit in similar:
        for sentence in _SENTENCE_END.split(hit.impression):
            sentence = sentence.strip()
            if not sentence or sentence in quoted:
                continue
            mentioned = mentioned_conditions(sentence)
            if label in mentioned and mentioned <= asserted:
                found.append((hit, sentence))
                break  # one sentence per case and finding
    return found
