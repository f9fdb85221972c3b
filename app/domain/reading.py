"""Reading impressions back: which conditions a text asserts, negations understood.

Kept apart from the writer so that evaluation can check any text (generated or not) against a
study's ground truth with the same phrase families the writer promises to use.
"""

import re

from app.domain.vocabulary import POSITIVE_PHRASES

_ABBREVIATIONS = (
    (re.compile(r"\bleft ventric(?:ular|le)\b", re.IGNORECASE), "LV"),
    (re.compile(r"\bright ventric(?:ular|le)\b", re.IGNORECASE), "RV"),
)


def abbreviate(text: str) -> str:
    """ "left ventricular"/"left ventricle" -> "LV", and the same for the right ventricle."""
    for pattern, abbreviation in _ABBREVIATIONS:
        text = pattern.sub(abbreviation, text)
    return text


# Per condition, the phrases a positive statement contains, with their LV/RV forms; lower case,
# matched as word prefixes ("infarct" finds "infarction") once severity adverbs are dropped.
CONDITION_PHRASES: dict[str, tuple[str, ...]] = {
    condition: tuple(dict.fromkeys(p for base in bases for p in (base, abbreviate(base).lower())))
    for condition, bases in POSITIVE_PHRASES.items()
}

_CLAUSE_BREAK = re.compile(r"[;\n]|\.(?!\d)")  # a period inside a number does not end a clause
_NEGATION_CUE = re.compile(r"(?:no|there is no|without|negative for)\b")
_SEVERITY_ADVERB = re.compile(r"\b(?:mildly|moderately|severely|markedly)\s+")
_PHRASE_PATTERNS = {
    condition: re.compile(r"\b(?:" + "|".join(map(re.escape, phrases)) + ")")
    for condition, phrases in CONDITION_PHRASES.items()
}


def mentioned_conditions(text: str) -> set[str]:
    """Conditions an impression asserts: CONDITION_PHRASES found in clauses that are not negated.

    Clauses are split at periods, semicolons and line breaks; a clause that opens with a negation
    cue ("No ...", "There is no ...", "Without ...") asserts nothing, which is why the writer
    keeps every denial in a clause of its own. Severity adverbs are dropped first, so "the left
    ventricle is severely dilated" matches "left ventricle is dilated".
    """
    found: set[str] = set()
    for clause in _CLAUSE_BREAK.split(text.lower()):
        clause = _SEVERITY_ADVERB.sub("", clause).strip()
        if not clause or _NEGATION_CUE.match(clause):
            continue
        found.update(c for c, pattern in _PHRASE_PATTERNS.items() if pattern.search(clause))
    return found
