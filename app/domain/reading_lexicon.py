"""The words app/domain/reading.py reads: condition mentions and ConText trigger terms.

Every pattern runs on text already lower-cased, with "left/right ventricular" as "lv"/"rv" and
severity adverbs ("mildly", "severely", ...) dropped.
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


# Per condition, the phrases a positive statement of the writer contains, with their LV/RV
# forms; lower case, matched as word prefixes ("infarct" finds "infarction").
CONDITION_PHRASES: dict[str, tuple[str, ...]] = {
    condition: tuple(dict.fromkeys(p for base in bases for p in (base, abbreviate(base).lower())))
    for condition, bases in POSITIVE_PHRASES.items()
}

CLAUSE_BREAK = re.compile(r"[;\n]|\.(?!\d)|(?<=\?)")  # a period inside a number ends nothing
SEVERITY_ADVERB = re.compile(
    r"\b(?:mildly|moderately|severely|markedly|massively|grossly|significantly|slightly)\s+"
)

_BE = r"(?:is|are|was|were|appears?|remains?|seems?|might be|may be|could be)"
_DILATED = r"(?:dilated|enlarged)"
_DILATATION = r"(?:dilatation|dilation|enlargement)"
_WALL = r"(?:antero|infero)?(?:anterior|inferior|lateral|septal|apical|posterior)"

# Wordings beyond the writer's phrases that clinicians use; "not" may sit inside ("the LV is not
# dilated"), where the reader takes it as a negation.
_EXTRA_PATTERNS: dict[str, tuple[str, ...]] = {
    "normal": (
        r"normal (?:cardiac )?(?:mri|mr|cmr|magnetic resonance|study|examination|exam|scan)\b",
        r"\bnormal heart\b",
        r"(?:study|examination|exam|scan|mri|cmr|heart)(?: " + _BE + r")? (?:not )?"
        r"(?:structurally (?:and functionally )?|functionally )?"
        r"(?:normal|unremarkable|within normal limits)\b",
        r"unremarkable (?:cardiac )?(?:mri|mr|cmr|study|examination|exam|scan)\b",
    ),
    "dilated_cardiomyopathy": (
        r"\b" + _DILATED + r" lv\b",
        r"\blv (?:cavity )?" + _DILATATION,
        r"\blv (?:cavity )?(?:\w+ ){0,2}?(?:" + _BE + r" )?(?:not |no longer )?" + _DILATED,
        _DILATATION + r"(?: (?:or|and) \w+)? of the lv\b",
        r"\bbiventricular " + _DILATATION,
    ),
    "hypertrophic_cardiomyopathy": (
        r"hypertroph",
        r"\b(?:lvh|h?ocm)\b",
        r"(?:septum|wall|myocardium|segments?) (?:" + _BE + r" )?(?:not )?thickened",
        r"\bthickened (?:\w+ )?(?:septum|wall|myocardium)",
    ),
    "myocardial_infarction": (
        r"\b(?:n?stemi|mi)\b",
        r"wall motion abnormalit",
        r"\brwmas?\b",
        r"ischa?emic scar",
        r"\b(?:lad|rca|lcx|circumflex|left anterior descending|right coronary)(?: artery)? "
        r"territory",
        r"\b(?:akinetic|dyskinetic|thinned)(?: and \w+)? " + _WALL,
        r"\b" + _WALL + r"(?: wall)? (?:akinesis|dyskinesis)",
    ),
    "abnormal_right_ventricle": (
        r"\b(?:" + _DILATED + r"|abnormal|failing) rv\b",
        r"\brv (?:cavity |systolic )?(?:" + _DILATATION + r"|dysfunction|failure|"
        r"abnormality|impairment)",
        r"\brv (?:\w+ ){0,2}?(?:" + _BE + r" )?(?:not |no longer )?(?:" + _DILATED + r"|"
        r"abnormal|impaired|reduced)\b",
        r"\b(?:reduced|low|impaired) rvef|\brvef (?:" + _BE + r" )?(?:reduced|low|impaired)",
        r"arrhythmogenic rv|\barvc\b",
        r"\bbiventricular (?:" + _DILATATION + r"|dysfunction|failure|impairment)",
    ),
    "pericardial_effusion": (
        r"pericardial (?:and [\w ]+? )?effusion",
        r"pericardial eff\b",
        r"(?<!pleural )\beffusions?\b",
    ),
}

# Statements that a structure is normal deny the matching condition.
_NORMAL_STRUCTURE: dict[str, tuple[str, ...]] = {
    "dilated_cardiomyopathy": (
        r"normal lv (?:(?:cavity|and rv) )?(?:size|volume|dimension)",
        r"\blv (?:cavity )?(?:size|volumes?|dimensions?) (?:" + _BE + r" )?"
        r"(?:normal|within normal limits)",
        r"\blv (?:" + _BE + r" )?(?:of normal size|normal in size)",
    ),
    "hypertrophic_cardiomyopathy": (
        r"normal (?:lv )?wall thickness",
        r"wall thickness (?:" + _BE + r" )?(?:normal|within normal limits)",
    ),
    "myocardial_infarction": (
        r"normal regional wall motion",
        r"regional wall motion (?:" + _BE + r" )?(?:normal|preserved)",
    ),
    "abnormal_right_ventricle": (
        r"\bnormal (?:lv and )?rv\b",
        r"\brv (?:size and (?:systolic )?function |size |function )?(?:" + _BE + r" )?normal\b",
    ),
    "pericardial_effusion": (
        r"(?:normal|unremarkable) pericardium",
        r"pericardium (?:" + _BE + r" )?(?:normal|unremarkable)",
    ),
}

# (condition, pattern, states_normal); a biventricular dilatation names both ventricles.
MENTION_PATTERNS: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    *(
        (c, re.compile(r"\b(?:" + "|".join(map(re.escape, phrases)) + ")"), False)
        for c, phrases in CONDITION_PHRASES.items()
    ),
    *((c, re.compile(p), False) for c, patterns in _EXTRA_PATTERNS.items() for p in patterns),
    *((c, re.compile(p), True) for c, patterns in _NORMAL_STRUCTURE.items() for p in patterns),
)

_TRIGGERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("negation", "pre"): (
        r"\bno\b",
        r"\bnot\b",
        r"\bwithout\b",
        r"\bnegative for\b",
        r"\bfree of\b",
        r"\babsence of\b",
        r"\bneither\b",
        r"\bnor\b",
        r"\bnothing\b",
        r"\brather than\b",
        r"\binstead of\b",
        r"\bresolution of\b",
        r"\bnot (?:consistent with|in keeping with|compatible with|suggestive of|typical of)",
    ),
    ("negation", "post"): (
        r"\b(?:is |are |was |were |has |have )?(?:been )?not (?:been )?(?:seen|identified|"
        r"present|demonstrated|detected|evident|visuali[sz]ed|observed|found|apparent|"
        r"appreciated|shown|noted|confirmed|a feature)\b",
        r"\b(?:is |are )?lacking\b",
        r"\bno longer (?:present|seen|evident)\b",
        r"\b(?:has |have |had )?(?:been )?(?:ruled out|excluded|resolved)\b",
        r":\s*(?:none|absent|nil)\b",
    ),
    ("negation", "both"): (r"\babsent\b", r"\b(?:un|less )likely\b"),
    ("possible", "pre"): (
        r"\bpossibl[ey]\b",
        r"\b(?:cannot|can ?not|could not|can't|we cannot) (?:exclude|rule out)\b",
        r"\bquery\b",
        r"\b(?:may|might|could)\b",
        r"\bborderline\b",
        r"\bsuspicio(?:n|us) (?:of|for)\b",
        r"\bconcern(?:ing)? for\b",
        r"\bdifferential\b",
        r"\bpossibility of\b",
        r"\b(?:difficult|hard) to (?:exclude|rule out)\b",
        r"\b(?:may|might|could) (?:well )?(?:be )?(?:in keeping with|consistent with|"
        r"compatible with|suggestive of|due to)",
    ),
    ("possible", "post"): (
        r"\b(?:cannot|can ?not|could not|can't|not) (?:be )?(?:\w+ly )?(?:excluded|ruled out)\b",
        r"\bif present\b",
        r"\ba possibility\b",
        r"\?",
    ),
    ("possible", "both"): (
        r"\bquestionable\b",
        r"\bequivocal\b",
        r"\buncertain\b",
        r"\bindeterminate\b",
        r"\bsuspected\b",
        r"\bconsider\b|\b(?:should|to) be considered\b",
        r"\bversus\b|\bvs\.?\B",
    ),
    ("probable", "both"): (
        r"\b(?:most |highly )?likely\b",
        r"\bprobabl[ey]\b",
        r"\bpresumed\b",
        r"\b(?:consistent|compatible) with\b",
        r"\bin keeping with\b",
        r"\bsuggesti(?:ve of|ng)\b|\bsuggests\b",
        r"\bfavou?rs?\b",
        r"\btypical of\b",
    ),
    # Look like triggers, deny nothing: "absent systolic thickening" describes an infarct.
    ("pseudo", ""): (
        r"\babsent (?:systolic )?(?:wall motion|thickening)\b",
        r"\bno (?:change|increase|further)\b",
        r"\bnot only\b",
    ),
    ("terminate", ""): (
        r"\bbut\b",
        r"\bhowever\b",
        r"\b(?:al)?though\b",
        r"\byet\b",
        r"\bwhereas\b",
        r"\bwhile\b",
        r"\bexcept\b",
        r"\b(?:apart|aside) from\b",
        r"\bother than\b",
        r"\bwhich\b",
    ),
}
TRIGGER_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(p), kind, direction)
    for (kind, direction), patterns in _TRIGGERS.items()
    for p in patterns
)
