"""Impression sections of cardiac MRI reports, written from a synthetic study's ground truth.

The impressions are the text half of the video-text training pairs, so they vary the way real
reports do (writer style, synonyms, sentence order, hedges, negations, incidental normals) while
staying faithful: every condition in the ground truth is named, none outside it is asserted, and
numbers and severity words follow the measurements. `app.domain.reading.mentioned_conditions`
reads a text back, negations included, so tests and evaluation can check that promise.

The ground truth and its clinical cut-offs live in `findings`, wording in `_phrases`, writer
habits in `_writers`. Effusion < 10 mm is small, <= 20 moderate.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from app.domain.reading import abbreviate
from app.domain.vocabulary import CONDITIONS
from app.synth import _phrases as ph
from app.synth._writers import WRITERS, Writer
from app.synth.findings import (
    LVEDVI_UPPER_NORMAL_ML_M2,
    MASSIVE_WALL_MM,
    RVEDVI_UPPER_NORMAL_ML_M2,
    WALL_UPPER_NORMAL_MM,
    Findings,
    lvef_category,
)

REPORT_STYLES: tuple[str, ...] = tuple(WRITERS)
_DISEASES = tuple(c for c in CONDITIONS if c != "normal")


def _grade(value: float, normal_max: float, mild_max: float, moderate_max: float) -> str:
    if value <= normal_max:
        return ""  # abnormal by ground truth but within reference range: say so without a grade
    if value <= mild_max:
        return "mild"
    return "moderate" if value <= moderate_max else "severe"


@dataclass(frozen=True)
class _Pen:
    """A writer at work on one study: the findings, their habits and the random source."""

    findings: Findings
    writer: Writer
    rng: np.random.Generator
    quantify: bool  # False when a measurement line already gave the numbers

    def pick(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def chance(self, probability: float) -> bool:
        return bool(self.rng.random() < probability)

    def form(self) -> str:
        return "sentence" if self.chance(self.writer.prose) else "fragment"

    def measured(self, parts: Sequence[str], enclosed: bool = False) -> str:
        """Measurements appended to a statement, " (A, B)" or ", A, B"; empty if not quantifying.

        `enclosed` forces brackets, for measurements that more text follows.
        """
        if not self.quantify or not parts:
            return ""
        frame = " ({})" if enclosed else self.pick((" ({})", ", {}"))
        return frame.format(", ".join(parts))


def _lvef(pen: _Pen) -> str:
    return pen.pick(("LVEF {}%", "LVEF of {}%")).format(round(pen.findings.lvef_pct))


def _volumes(pen: _Pen, side: str, edv_ml: float) -> list[str]:
    raw = f"{side}EDV {round(edv_ml)} mL"
    indexed = f"{side}EDVi {round(edv_ml / pen.findings.bsa_m2)} mL/m²"
    if not pen.chance(pen.writer.index_volumes):
        return [raw]
    return [indexed] if pen.chance(0.5) else [raw, indexed]


def _wall_thickness(pen: _Pen) -> str:
    template = pen.pick(
        ("maximal wall thickness {} mm", "maximal end-diastolic wall thickness {} mm")
    )
    return template.format(round(pen.findings.lv_max_wall_mm))


def _fill(template: str, **fields: str) -> str:
    return _tidy(template.format(**fields))


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"\s+([,;)])", r"\1", text).strip()


# --- positive statements -------------------------------------------------------------------
def _lv_function(pen: _Pen, form: str) -> str:
    """LV systolic function; form "attached" continues a dilated-LV statement after "with"."""
    category = lvef_category(pen.findings.lvef_pct)
    kind = "reduced" if category.endswith("reduced") else category
    grade = category.removesuffix("ly_reduced") if kind == "reduced" else ""
    template = pen.pick(ph.LV_FUNCTION[kind][form])
    return _fill(template, adv=ph.GRADE_ADVERB[grade], adj=grade, ef=pen.measured([_lvef(pen)]))


def _dilated_lv(pen: _Pen, form: str, attach_function: bool) -> str:
    f = pen.findings
    grade = _grade(round(f.lvedvi_ml_m2), LVEDVI_UPPER_NORMAL_ML_M2, 125.0, 145.0)
    volumes = _volumes(pen, "LV", f.lvedv_ml)
    if pen.chance(0.3):
        volumes.append(f"LVESV {round(f.lvesv_ml)} mL")
    template = pen.pick(ph.LV_DILATION[form])
    vol = pen.measured(volumes, enclosed=attach_function)
    text = template.format(adv=ph.GRADE_ADVERB[grade], adj=grade, vol=vol)
    if attach_function:
        text += " with " + _lv_function(pen, "attached")
        if lvef_category(f.lvef_pct).endswith("reduced") and pen.chance(0.4):
            text += " and " + pen.pick(ph.GLOBAL_HYPOKINESIS)
    return _tidy(text)


def _hypertrophy(pen: _Pen, form: str) -> str:
    f = pen.findings
    thick = pen.measured([_wall_thickness(pen)])
    if f.hypertrophy_segment is None:
        text = _fill(pen.pick(ph.HYPERTROPHY_UNLOCATED[form]), thick=thick)
    else:
        asym = pen.pick(("asymmetric ", ""))
        template = pen.pick(ph.HYPERTROPHY[form])
        text = _fill(template, seg=f.hypertrophy_segment, asym=asym, thick=thick)
    if round(f.lv_max_wall_mm) >= MASSIVE_WALL_MM:
        text += "; " + pen.pick(ph.MASSIVE_HYPERTROPHY_NOTES)
    return text


def _infarct(pen: _Pen, form: str) -> str:
    f = pen.findings
    nouns, adjectives = ph.WALL_MOTION[f.infarct_motion]
    motion = {"noun": pen.pick(nouns), "adj": pen.pick(adjectives)}
    if f.infarct_territory is None:
        return _fill(pen.pick(ph.INFARCT_UNLOCATED[form]), **motion)
    territory = ph.TERRITORIES[f.infarct_territory]
    walls, artery = pen.pick(territory.walls), pen.pick(territory.arteries)
    return _fill(pen.pick(ph.INFARCT[form]), walls=walls, artery=artery, **motion)


def _abnormal_rv(pen: _Pen, form: str) -> str:
    f = pen.findings
    if f.rv_dilated:
        grade = _grade(round(f.rvedvi_ml_m2), RVEDVI_UPPER_NORMAL_ML_M2, 130.0, 150.0)
        text = pen.pick(ph.RV_DILATED[form]).format(adv=ph.GRADE_ADVERB[grade], adj=grade)
        text += pen.pick(ph.RV_FUNCTION_ATTACHED[f.rv_reduced])
    elif f.rv_reduced:
        text = pen.pick(ph.RV_DYSFUNCTION[form])
    else:
        text = pen.pick(ph.RV_ABNORMAL[form])
    numbers = [*_volumes(pen, "RV", f.rvedv_ml), f"RVEF {round(f.rvef_pct)}%"]
    return _tidy(text + pen.measured(numbers))


def _effusion_size(effusion_mm: float) -> str:
    if effusion_mm <= 0:
        return ""  # present by ground truth but not measured: no size word
    shown_mm = round(effusion_mm)
    return "small" if shown_mm < 10 else "moderate" if shown_mm <= 20 else "large"


def _effusion(pen: _Pen, form: str) -> str:
    size = _effusion_size(pen.findings.effusion_mm)
    if not size:
        return _fill(pen.pick(ph.EFFUSION[form]), size="", depth="", extra="")
    depth = pen.measured([f"{round(pen.findings.effusion_mm)} mm"])
    remark = pen.pick(ph.EFFUSION_REMARKS) if size != "small" and pen.chance(0.4) else ""
    size_word = pen.pick(ph.EFFUSION_SIZES[size])
    return _fill(pen.pick(ph.EFFUSION[form]), size=size_word, depth=depth, extra=remark)


def _present_statements(pen: _Pen) -> list[str]:
    """LV function plus one statement per present condition, in a random order."""
    f = pen.findings
    attach = "dilated_cardiomyopathy" in f.conditions and pen.chance(pen.writer.attach_function)
    builders = {
        "dilated_cardiomyopathy": partial(_dilated_lv, attach_function=attach),
        "hypertrophic_cardiomyopathy": _hypertrophy,
        "myocardial_infarction": _infarct,
        "abnormal_right_ventricle": _abnormal_rv,
        "pericardial_effusion": _effusion,
    }
    statements = [] if attach else [_lv_function(pen, pen.form())]
    for condition in _DISEASES:
        if condition in f.conditions:
            form = pen.form()
            text = builders[condition](pen, form)
            hedge = form == "fragment" and pen.chance(pen.writer.hedge_findings)
            statements.append(pen.pick(ph.HEDGED_FINDING_FRAMES).format(np=text) if hedge else text)
    return [statements[i] for i in pen.rng.permutation(len(statements))]


# --- absent conditions, incidentals, caveats -----------------------------------------------
def _plainly_absent(condition: str, f: Findings) -> bool:
    """Whether the measurements let a reader call a condition absent outright."""
    if condition == "dilated_cardiomyopathy":
        return round(f.lvedvi_ml_m2) <= LVEDVI_UPPER_NORMAL_ML_M2
    if condition == "hypertrophic_cardiomyopathy":
        return round(f.lv_max_wall_mm) <= WALL_UPPER_NORMAL_MM
    if condition == "abnormal_right_ventricle":
        return not (f.rv_dilated or f.rv_reduced)
    if condition == "pericardial_effusion":
        return f.effusion_mm <= 0
    return condition == "myocardial_infarction"


def _normal_structure(condition: str, pen: _Pen) -> str:
    f = pen.findings
    numbers = {
        "vol": pen.measured(_volumes(pen, "LV", f.lvedv_ml)) if pen.chance(0.4) else "",
        "thick": pen.measured([_wall_thickness(pen)]) if pen.chance(0.4) else "",
        "rv": pen.measured([f"RVEF {round(f.rvef_pct)}%"]) if pen.chance(0.3) else "",
    }
    return _fill(pen.pick(ph.NORMAL_STRUCTURE[condition][pen.form()]), **numbers)


def _absent_statements(pen: _Pen) -> list[str]:
    """Negations and normal statements for some absent conditions, plus incidental normals."""
    f, writer = pen.findings, pen.writer
    negated_items: list[str] = []
    statements: list[str] = []
    for condition in _DISEASES:
        if condition in f.conditions or not _plainly_absent(condition, f):
            continue
        if not pen.chance(writer.mention_absent):
            continue
        if pen.chance(0.5):
            negated_items.append(pen.pick(ph.NEGATABLE[condition]))
        else:
            statements.append(_normal_structure(condition, pen))
    frames = ph.HEDGED_NEGATION_FRAMES if writer.hedged else ph.NEGATION_FRAMES
    if negated_items and pen.chance(0.5):
        statements.append(pen.pick(frames).format(items=_join(negated_items, "or")))
    else:
        statements.extend(pen.pick(frames).format(items=item) for item in negated_items)
    if pen.chance(writer.incidental):
        count = 1 + int(pen.chance(0.3))
        statements.extend(
            ph.INCIDENTALS[i] for i in pen.rng.choice(len(ph.INCIDENTALS), count, replace=False)
        )
    return [statements[i] for i in pen.rng.permutation(len(statements))]


def _caveats(pen: _Pen) -> list[str]:
    present = [c for c in CONDITIONS if c in pen.findings.conditions]
    return [pen.pick(ph.CAVEATS[c]) for c in present if pen.chance(pen.writer.caveat)]


# --- conclusion and layout -----------------------------------------------------------------
def _join(items: Sequence[str], conjunction: str = "and") -> str:
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _diagnosis(condition: str, pen: _Pen) -> str:
    f = pen.findings
    if condition == "abnormal_right_ventricle":
        return pen.pick(ph.RV_DIAGNOSES[(f.rv_dilated, f.rv_reduced)])
    if condition == "myocardial_infarction" and f.infarct_territory is None:
        return pen.pick(ph.UNLOCATED_INFARCT_DIAGNOSES)
    options = ph.DIAGNOSES[condition]
    segment = f.hypertrophy_segment or ""
    if condition == "hypertrophic_cardiomyopathy":
        variants = [dx for key, dx in ph.HYPERTROPHY_VARIANT_DIAGNOSES.items() if key in segment]
        options = (*options, *variants)
    territory = ph.TERRITORIES.get(f.infarct_territory or "")
    return _fill(
        pen.pick(options),
        artery=pen.pick(territory.arteries) if territory else "",
        wall=territory.wall if territory else "",
        size=_effusion_size(f.effusion_mm),
    )


def _conclusion(pen: _Pen, style: str) -> str:
    present = [c for c in CONDITIONS if c in pen.findings.conditions]
    if present == ["normal"]:
        return pen.pick(
            ph.HEDGED_NORMAL_CONCLUSIONS if pen.writer.hedged else ph.NORMAL_CONCLUSIONS
        )
    names = [_diagnosis(c, pen) for c in present]
    ordered = [names[i] for i in pen.rng.permutation(len(names))]
    return pen.pick(ph.CONCLUSION_FRAMES[style]).format(dx=_join(ordered))


def _measurement_line(pen: _Pen) -> str:
    f = pen.findings
    lvef = f"LVEF {round(f.lvef_pct)}%"
    lv = [*_volumes(pen, "LV", f.lvedv_ml), f"LVESV {round(f.lvesv_ml)} mL", lvef]
    rv = [*_volumes(pen, "RV", f.rvedv_ml), f"RVEF {round(f.rvef_pct)}%"]
    groups = [", ".join(lv), ", ".join(rv), _wall_thickness(pen)]
    return pen.pick(ph.MEASUREMENT_LINE_LEADS) + "; ".join(groups)


def _finish(sentence: str, pen: _Pen) -> str:
    if pen.chance(pen.writer.abbreviate):
        sentence = abbreviate(sentence)
    sentence = _tidy(sentence)
    return sentence[0].upper() + sentence[1:] + "."


def write_impression(findings: Findings, style: str, rng: np.random.Generator) -> str:
    """The impression one writer `style` (see REPORT_STYLES) would give for `findings`.

    Deterministic given the state of `rng`, which it advances. Raises ValueError for an
    unknown style. Sentences end with a period; numbered writers put one item per line.
    """
    if style not in WRITERS:
        raise ValueError(f"unknown report style {style!r}; known: {', '.join(REPORT_STYLES)}")
    writer = WRITERS[style]
    quantify = not writer.measurements_first or rng.random() < 0.3
    pen = _Pen(findings, writer, rng, quantify)
    sentences = [_measurement_line(pen)] if writer.measurements_first else []
    sentences += _present_statements(pen) + _absent_statements(pen) + _caveats(pen)
    conclusion = _conclusion(pen, style)
    if pen.chance(writer.conclusion_first):
        sentences.insert(0, conclusion)
    else:
        sentences.append(conclusion)
    finished = [_finish(sentence, pen) for sentence in sentences]
    if writer.numbered:
        return "\n".join(f"{number}. {sentence}" for number, sentence in enumerate(finished, 1))
    return " ".join(finished)
