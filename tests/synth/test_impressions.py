"""Impressions: deterministic, varied, faithful to the ground truth, numbers and words agreeing."""

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.domain.reading import mentioned_conditions
from app.domain.vocabulary import CONDITIONS, PARAPHRASE_HOLDOUT
from app.synth.findings import Findings, lvef_category
from app.synth.impressions import REPORT_STYLES, write_impression
from app.synth.params import sample_heart

DISEASES = tuple(c for c in CONDITIONS if c != "normal")
ALL_CONDITION_SETS = [frozenset({"normal"})] + [
    frozenset(combo)
    for size in range(1, len(DISEASES) + 1)
    for combo in itertools.combinations(DISEASES, size)
]
REPO_ROOT = Path(__file__).resolve().parents[2]


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def make_findings(conditions: frozenset[str], rng: np.random.Generator) -> Findings:
    """Plausible measurements for any combination of conditions, including unusual ones."""
    bsa = _uniform(rng, 1.6, 2.2)
    lvedvi, lvef, wall = _uniform(rng, 65, 95), _uniform(rng, 56, 68), _uniform(rng, 7, 11)
    rvedvi, rvef, effusion = _uniform(rng, 65, 100), _uniform(rng, 48, 62), 0.0
    segment = territory = motion = None
    if "dilated_cardiomyopathy" in conditions:
        lvedvi, lvef = _uniform(rng, 100, 180), _uniform(rng, 15, 44)
    if "hypertrophic_cardiomyopathy" in conditions:
        wall, lvef = _uniform(rng, 15, 34), max(lvef, _uniform(rng, 60, 80))
        segment = [None, "basal anteroseptal", "septal", "apical"][int(rng.integers(4))]
    if "myocardial_infarction" in conditions:
        territory = [None, "LAD", "RCA", "LCx"][int(rng.integers(4))]
        motion = [None, "akinetic", "hypokinetic", "severely hypokinetic"][int(rng.integers(4))]
        lvef = min(lvef, _uniform(rng, 30, 50))
    if "abnormal_right_ventricle" in conditions:
        pattern = int(rng.integers(4))  # dilated, reduced, both, neither (odd but allowed)
        rvedvi = _uniform(rng, 115, 170) if pattern in (0, 2) else rvedvi
        rvef = _uniform(rng, 18, 38) if pattern in (1, 2) else rvef
    if "pericardial_effusion" in conditions:
        effusion = _uniform(rng, 3, 28)
    return Findings(
        conditions=conditions,
        lvedv_ml=lvedvi * bsa,
        lvesv_ml=lvedvi * bsa * (1 - lvef / 100),
        lvef_pct=lvef,
        lv_max_wall_mm=wall,
        hypertrophy_segment=segment,
        infarct_territory=territory,
        infarct_motion=motion,
        rvedv_ml=rvedvi * bsa,
        rvef_pct=rvef,
        effusion_mm=effusion,
        bsa_m2=bsa,
    )


FIXED = Findings(
    conditions=frozenset({"dilated_cardiomyopathy", "pericardial_effusion"}),
    lvedv_ml=262.0,
    lvesv_ml=190.0,
    lvef_pct=27.6,
    lv_max_wall_mm=7.8,
    hypertrophy_segment=None,
    infarct_territory=None,
    infarct_motion=None,
    rvedv_ml=150.0,
    rvef_pct=55.0,
    effusion_mm=8.0,
    bsa_m2=1.9,
)


@pytest.fixture(scope="module")
def corpus() -> list[tuple[Findings, str, str]]:
    """2,000 impressions over random condition sets and every style: (findings, style, text)."""
    rng = np.random.default_rng(2024)
    samples = []
    for index in range(2000):
        conditions = ALL_CONDITION_SETS[int(rng.integers(len(ALL_CONDITION_SETS)))]
        findings = make_findings(conditions, rng)
        style = REPORT_STYLES[index % len(REPORT_STYLES)]
        samples.append((findings, style, write_impression(findings, style, rng)))
    return samples


# --- determinism and variety ---------------------------------------------------------------
@pytest.mark.parametrize("style", REPORT_STYLES)
def test_same_seed_gives_same_text(style: str) -> None:
    first = write_impression(FIXED, style, np.random.default_rng(11))
    assert first == write_impression(FIXED, style, np.random.default_rng(11))


def test_text_does_not_depend_on_string_hash_seed() -> None:
    # frozenset iteration order changes with PYTHONHASHSEED; datasets must not.
    script = (
        "import numpy as np\n"
        "from app.synth.impressions import REPORT_STYLES, write_impression\n"
        "from app.synth.params import sample_heart\n"
        "from app.synth.findings import Findings\n"
        "rng = np.random.default_rng(5)\n"
        "for i in range(30):\n"
        "    f = Findings.from_heart(sample_heart(rng))\n"
        "    print(write_impression(f, REPORT_STYLES[i % len(REPORT_STYLES)], rng))\n"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO_ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_fixed_findings_give_varied_impressions_across_styles() -> None:
    texts = [
        write_impression(
            FIXED, REPORT_STYLES[seed % len(REPORT_STYLES)], np.random.default_rng(seed)
        )
        for seed in range(100)
    ]
    assert len(set(texts)) >= 50


@pytest.mark.parametrize("style", REPORT_STYLES)
def test_each_writer_varies_within_its_style(style: str) -> None:
    texts = {write_impression(FIXED, style, np.random.default_rng(seed)) for seed in range(20)}
    assert len(texts) >= 10


def test_writers_keep_their_house_style(corpus: list[tuple[Findings, str, str]]) -> None:
    hedges = ("likely", "probabl", "suggestive", "favor", "cannot", "no definite", "convincing")
    for _, style, text in corpus:
        if style == "numbered":
            assert all(re.match(r"\d+\. \S", line) for line in text.split("\n")), text
        else:
            assert "\n" not in text
        if style == "measurement_first":
            assert re.match(r"(\w+( \w+)*: )?LVEDV", text), text
        if style == "hedging":
            assert any(hedge in text.lower() for hedge in hedges), text


# --- faithfulness --------------------------------------------------------------------------
@pytest.mark.parametrize("style", REPORT_STYLES)
def test_every_condition_set_is_mentioned_exactly(style: str) -> None:
    rng = np.random.default_rng(REPORT_STYLES.index(style))
    for conditions in ALL_CONDITION_SETS:
        for _ in range(4):
            text = write_impression(make_findings(conditions, rng), style, rng)
            assert mentioned_conditions(text) == set(conditions), text


def test_sampled_hearts_are_reported_faithfully() -> None:
    rng = np.random.default_rng(3)
    for index in range(150):
        heart = sample_heart(rng)
        findings = Findings.from_heart(heart)
        text = write_impression(findings, REPORT_STYLES[index % len(REPORT_STYLES)], rng)
        assert mentioned_conditions(text) == set(findings.conditions), text


def test_absent_conditions_are_negated_not_asserted(
    corpus: list[tuple[Findings, str, str]],
) -> None:
    # The negation path must actually run: absent conditions named inside negated clauses.
    negated = [
        text
        for findings, _, text in corpus
        if "pericardial_effusion" not in findings.conditions
        and "pericardial effusion" in text.lower()
    ]
    assert len(negated) > 50
    assert all("pericardial_effusion" not in mentioned_conditions(text) for text in negated)


HEDGED_CUE = r"(?:\s+(?:evidence of|definite|convincing|clear evidence of))?"
NEGATION_CUE = re.compile(r"^\s*(?:\d+\.\s*)?(?:no|there is no)\b" + HEDGED_CUE, re.IGNORECASE)


def test_negations_only_deny_absent_conditions(corpus: list[tuple[Findings, str, str]]) -> None:
    for findings, _, text in corpus:
        for clause in re.split(r"[;\n]|\.(?!\d)", text):
            if NEGATION_CUE.match(clause):
                denied = mentioned_conditions(NEGATION_CUE.sub("", clause))
                assert not denied & findings.conditions, clause


# --- numbers and severity words ------------------------------------------------------------
def _all_equal(pattern: str, text: str, expected: int) -> bool:
    return all(int(value) == expected for value in re.findall(pattern, text))


def test_measurements_render_as_rounded_ground_truth(
    corpus: list[tuple[Findings, str, str]],
) -> None:
    for f, _, text in corpus:
        lvefs = re.findall(r"LVEF(?: of)? (\d+)%", text)
        assert lvefs and all(int(v) == round(f.lvef_pct) for v in lvefs), text
        assert _all_equal(r"LVEDV (\d+) mL", text, round(f.lvedv_ml)), text
        assert _all_equal(r"LVEDVi (\d+) mL/m²", text, round(f.lvedv_ml / f.bsa_m2)), text
        assert _all_equal(r"LVESV (\d+) mL", text, round(f.lvesv_ml)), text
        assert _all_equal(r"RVEDV (\d+) mL", text, round(f.rvedv_ml)), text
        assert _all_equal(r"RVEF (\d+)%", text, round(f.rvef_pct)), text
        assert _all_equal(r"wall thickness (\d+) mm", text, round(f.lv_max_wall_mm)), text


def test_indexed_volumes_appear_sometimes(corpus: list[tuple[Findings, str, str]]) -> None:
    share = np.mean(["mL/m²" in text for _, _, text in corpus])
    assert 0.2 < share < 0.95


@pytest.mark.parametrize(
    ("lvef_pct", "category"),
    [
        (78.0, "hyperdynamic"),
        (71.0, "hyperdynamic"),
        (70.4, "normal"),
        (55.0, "normal"),
        (54.6, "normal"),
        (54.4, "mildly_reduced"),
        (45.0, "mildly_reduced"),
        (44.0, "moderately_reduced"),
        (35.0, "moderately_reduced"),
        (34.4, "severely_reduced"),
        (12.0, "severely_reduced"),
    ],
)
def test_lvef_category_follows_clinical_cut_offs(lvef_pct: float, category: str) -> None:
    assert lvef_category(lvef_pct) == category


REDUCED_MARKERS = {
    grade: (
        f"{adverb} reduced",
        f"{adverb} impaired",
        f"{grade} left ventricular systolic",
        f"{grade} lv systolic",
        f"{grade} systolic dysfunction",
    )
    for grade, adverb in (("mild", "mildly"), ("moderate", "moderately"), ("severe", "severely"))
}


@pytest.mark.parametrize("lvef_pct", [20.0, 34.0, 35.0, 40.0, 44.0, 45.0, 50.0, 54.0, 60.0, 74.0])
@pytest.mark.parametrize("conditions", [{"myocardial_infarction"}, {"dilated_cardiomyopathy"}])
def test_lv_severity_word_matches_cut_off(lvef_pct: float, conditions: set[str]) -> None:
    rng = np.random.default_rng(int(lvef_pct))
    category = lvef_category(lvef_pct)
    for style in REPORT_STYLES * 3:
        base = make_findings(frozenset(conditions), rng)
        findings = Findings(**{**vars(base), "lvef_pct": lvef_pct})
        text = write_impression(findings, style, rng).lower()
        for grade, markers in REDUCED_MARKERS.items():
            said = any(marker in text for marker in markers)
            assert said == (category == f"{grade}ly_reduced"), text
        assert ("hyperdynamic" in text) == (category == "hyperdynamic"), text
        if category == "normal":
            assert "normal" in text or "preserved" in text, text


def test_rv_function_words_follow_rvef_cut_off() -> None:
    rng = np.random.default_rng(8)
    reduced_words = ("reduced", "impaired", "dysfunction")
    for rvef, should_say_reduced in ((30.0, True), (39.4, True), (39.6, False), (50.0, False)):
        for style in REPORT_STYLES:
            base = make_findings(frozenset({"abnormal_right_ventricle"}), rng)
            findings = Findings(**{**vars(base), "rvef_pct": rvef, "lvef_pct": 62.0})
            text = write_impression(findings, style, rng).lower()
            assert any(word in text for word in reduced_words) == should_say_reduced, text


@pytest.mark.parametrize(
    ("effusion_mm", "size"),
    [(4.0, "small"), (9.6, "moderate"), (20.4, "moderate"), (22.0, "large")],
)
def test_effusion_size_word_follows_printed_depth(effusion_mm: float, size: str) -> None:
    rng = np.random.default_rng(6)
    for style in REPORT_STYLES * 2:
        base = make_findings(frozenset({"pericardial_effusion"}), rng)
        text = write_impression(Findings(**{**vars(base), "effusion_mm": effusion_mm}), style, rng)
        words = set(
            re.findall(r"(small|moderate|large)(?:-sized)? pericardial effusion", text.lower())
        )
        assert words == {size}, text


@pytest.mark.parametrize(
    ("territory", "walls", "other_walls"),
    [
        ("LAD", "anterior", ("inferior",)),
        ("RCA", "inferior", ("anterior", "lateral")),
        ("LCx", "lateral", ("anterior",)),
    ],
)
def test_infarct_uses_coronary_territory_language(
    territory: str, walls: str, other_walls: tuple[str, ...]
) -> None:
    rng = np.random.default_rng(4)
    for style in REPORT_STYLES * 2:
        base = make_findings(frozenset({"myocardial_infarction"}), rng)
        findings = Findings(**{**vars(base), "infarct_territory": territory})
        text = write_impression(findings, style, rng).lower()
        assert walls in text, text
        assert not any(word in text for word in other_walls), text


# --- holdout prompts -----------------------------------------------------------------------
def test_paraphrase_holdout_is_never_generated(corpus: list[tuple[Findings, str, str]]) -> None:
    assert set(PARAPHRASE_HOLDOUT) == set(CONDITIONS)
    assert all(len(phrases) == 3 for phrases in PARAPHRASE_HOLDOUT.values())
    holdout = [phrase.lower() for phrases in PARAPHRASE_HOLDOUT.values() for phrase in phrases]
    for _, _, text in corpus:
        lowered = text.lower()
        assert not any(phrase in lowered for phrase in holdout), text


# --- input validation ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "conditions",
    [frozenset(), frozenset({"normal", "pericardial_effusion"}), frozenset({"myocarditis"})],
)
def test_inconsistent_conditions_are_refused(conditions: frozenset[str]) -> None:
    with pytest.raises(ValueError):
        Findings(**{**vars(FIXED), "conditions": conditions})


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report style"):
        write_impression(FIXED, "telegraphic", np.random.default_rng(0))
