"""Reading impressions back: what a text says of each condition, negation and hedging understood.

A ConText-style rule reader (Chapman et al.; the algorithm of pyConTextNLP and medspacy), kept
dependency-free so the gateway can use it. Measured on tests/domain/reading_sentences.yaml
against the clause-initial reader it replaced and against medspacy's ConText
(bench/bench_reading.py).

Kept apart from the writer so that evaluation can check any text (generated or not) against a
study's ground truth with the same phrase families the writer promises to use.
"""

from dataclasses import dataclass
from typing import Literal

from app.domain.reading_lexicon import (
    CLAUSE_BREAK,
    CONDITION_PHRASES,
    MENTION_PATTERNS,
    SEVERITY_ADVERB,
    TRIGGER_PATTERNS,
    abbreviate,
)

__all__ = ["CONDITION_PHRASES", "Status", "abbreviate", "mentioned_conditions", "reading"]

Status = Literal["present", "possible", "absent"]
_RANK: dict[Status, int] = {"absent": 0, "possible": 1, "present": 2}


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    kind: str  # trigger: negation | possible | probable | pseudo | terminate; mention: condition
    direction: str = ""  # trigger: pre | post | both; mention: "" or "normal" (states normality)


def _triggers(clause: str) -> list[_Span]:
    """Trigger terms of a clause, longest first where they overlap ("cannot be excluded" is a
    hedge, not the negation "not"; "not consistent with" a negation, not "consistent with")."""
    found = [
        _Span(m.start(), m.end(), kind, direction)
        for pattern, kind, direction in TRIGGER_PATTERNS
        for m in pattern.finditer(clause)
    ]
    found.sort(key=lambda s: (s.start, s.start - s.end))
    kept: list[_Span] = []
    for span in found:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


def _mentions(clause: str) -> list[_Span]:
    return [
        _Span(m.start(), m.end(), condition, "normal" if states_normal else "")
        for condition, pattern, states_normal in MENTION_PATTERNS
        for m in pattern.finditer(clause)
    ]


def _in_scope(trigger: _Span, mention: _Span, triggers: list[_Span]) -> bool:
    """ConText scope: a pre-trigger reaches forward, a post-trigger back, each up to the clause
    end, a termination term ("but", "however", ...) or another trigger."""
    if trigger.direction in ("pre", "both") and trigger.start < mention.end:
        gap = (trigger.end, mention.start)
    elif trigger.direction in ("post", "both") and trigger.start >= mention.start:
        gap = (mention.end, trigger.start)
    else:
        return False
    return not any(
        other is not trigger and other.kind != "pseudo" and gap[0] <= other.start < gap[1]
        for other in triggers
    )


def _clause_reading(clause: str) -> dict[str, Status]:
    triggers = _triggers(clause)
    modifiers = [t for t in triggers if t.kind in ("negation", "possible")]
    statuses: dict[str, Status] = {}
    for mention in _mentions(clause):
        if mention.direction == "normal":
            status: Status = "absent"
        else:
            kinds = {t.kind for t in modifiers if _in_scope(t, mention, triggers)}
            status = "absent" if "negation" in kinds else "possible" if kinds else "present"
        old = statuses.get(mention.kind)
        if old is None or _RANK[status] > _RANK[old]:
            statuses[mention.kind] = status
    return statuses


def reading(text: str) -> dict[str, Status]:
    """What an impression says of each condition it speaks about; conditions it does not
    mention are left out.

    - "present": asserted, definitely or probably: "likely", "probable", "consistent with",
      "in keeping with", "suggestive of", "favour" leave a finding asserted;
    - "possible": hedged, raised but not asserted: "possible", "cannot exclude", "cannot be
      ruled out", "not excluded", "questionable", "query", "borderline", "equivocal", "may /
      might / could (represent)", "versus", "differential includes", a trailing "?";
    - "absent": denied: "no", "not", "without", "negative for", "free of", "neither/nor",
      "rather than", "unlikely" before the finding, "is not seen / identified / present",
      "absent", "ruled out", "excluded", "has resolved" after it; or a structure stated normal
      ("normal LV size" denies LV dilatation, "unremarkable pericardium" an effusion).

    A trigger's scope runs forward (pre) or back (post) to the end of its clause (split at
    periods that are not decimal points, semicolons, line breaks and after "?"), a termination
    term ("but", "however", "although", "whereas", "except", "apart from", ...) or another
    trigger; denial beats a hedge on the same mention. A condition mentioned more than once
    takes its strongest reading: present over possible over absent ("Possible effusion. ... an
    effusion is confirmed" is present). Severity adverbs are dropped first and "left/right
    ventricular" read as LV/RV.
    """
    text = SEVERITY_ADVERB.sub("", abbreviate(text).lower())
    statuses: dict[str, Status] = {}
    for clause in CLAUSE_BREAK.split(text):
        for condition, status in _clause_reading(clause.strip()).items():
            old = statuses.get(condition)
            if old is None or _RANK[status] > _RANK[old]:
                statuses[condition] = status
    return statuses


def mentioned_conditions(text: str) -> set[str]:
    """Conditions an impression asserts: those `reading` finds "present" (definite or probable;
    hedged and denied ones are left out)."""
    return {condition for condition, status in reading(text).items() if status == "present"}
