"""Wording of report impressions: phrase families and `str.format` templates, no logic.

Rules every template here keeps, because `app.domain.reading.mentioned_conditions` and the
tests rely on them:
- a positive statement about a condition contains one of that condition's POSITIVE_PHRASES
  (app/domain/vocabulary.py; after severity adverbs such as "severely" are dropped) and no
  other condition's phrases;
- a statement that denies a condition starts with a negation cue ("No ...", "There is no ...");
- statements about normal structures name neither.
Fields a template may use are listed above each group; unused fields are simply ignored.
"""

from typing import NamedTuple

from app.domain.vocabulary import CORONARY_ARTERIES


class Territory(NamedTuple):
    arteries: tuple[str, ...]  # ways to name the culprit artery
    walls: tuple[str, ...]  # the AHA segments it supplies, as a report lists them
    wall: str  # the one-word wall for a diagnosis ("anterior myocardial infarction")


TERRITORIES: dict[str, Territory] = {
    "LAD": Territory(
        CORONARY_ARTERIES["LAD"],
        ("anterior, anteroseptal and apical", "anterior and anteroseptal"),
        "anterior",
    ),
    "RCA": Territory(
        CORONARY_ARTERIES["RCA"],
        ("inferior and inferoseptal", "basal to mid inferior and inferoseptal"),
        "inferior",
    ),
    "LCx": Territory(
        CORONARY_ARTERIES["LCx"],
        ("lateral and inferolateral", "basal to mid lateral and inferolateral"),
        "lateral",
    ),
}


GRADE_ADVERB = {"": "", "mild": "mildly", "moderate": "moderately", "severe": "severely"}


# infarct_motion -> (nouns, adjectives); None when the ground truth gives no grade.
WALL_MOTION: dict[str | None, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "akinetic": (("akinesis", "absent wall motion", "absent systolic thickening"), ("akinetic",)),
    "hypokinetic": (("hypokinesis", "reduced wall motion"), ("hypokinetic",)),
    "severely hypokinetic": (
        ("severe hypokinesis", "markedly reduced wall motion"),
        ("severely hypokinetic", "markedly hypokinetic"),
    ),
    None: (("wall motion abnormality",), ("abnormally contracting",)),
}

# --- positive statements -------------------------------------------------------------------
# Dilated LV. Fields: adv, adj (grade, may be empty), vol (measurements, may be empty).
LV_DILATION = {
    "fragment": (
        "{adv} dilated left ventricle{vol}",
        "{adv} enlarged left ventricle{vol}",
        "{adj} left ventricular dilatation{vol}",
        "{adj} left ventricular enlargement{vol}",
    ),
    "sentence": (
        "the left ventricle is {adv} dilated{vol}",
        "the left ventricle is {adv} enlarged{vol}",
        "there is {adj} left ventricular dilatation{vol}",
    ),
}
GLOBAL_HYPOKINESIS = ("global hypokinesis", "diffuse hypokinesis", "globally reduced wall motion")

# LV systolic function by kind. Fields: adv, adj (reduction grade), ef (LVEF, may be empty).
LV_FUNCTION = {
    "reduced": {
        "fragment": (
            "{adv} reduced left ventricular systolic function{ef}",
            "{adv} impaired left ventricular systolic function{ef}",
            "{adj} left ventricular systolic dysfunction{ef}",
            "{adv} reduced left ventricular ejection fraction{ef}",
        ),
        "sentence": (
            "left ventricular systolic function is {adv} reduced{ef}",
            "left ventricular systolic function is {adv} impaired{ef}",
            "there is {adj} left ventricular systolic dysfunction{ef}",
        ),
        # after "with", inside a dilated-LV statement
        "attached": (
            "{adv} reduced systolic function{ef}",
            "{adv} impaired systolic function{ef}",
            "{adj} systolic dysfunction{ef}",
            "{adv} reduced ejection fraction{ef}",
        ),
    },
    "normal": {
        "fragment": (
            "normal left ventricular systolic function{ef}",
            "preserved left ventricular systolic function{ef}",
            "normal left ventricular ejection fraction{ef}",
        ),
        "sentence": (
            "left ventricular systolic function is normal{ef}",
            "left ventricular systolic function is preserved{ef}",
        ),
        "attached": ("preserved systolic function{ef}", "normal ejection fraction{ef}"),
    },
    "hyperdynamic": {
        "fragment": (
            "hyperdynamic left ventricular systolic function{ef}",
            "hyperdynamic left ventricle{ef}",
        ),
        "sentence": ("left ventricular systolic function is hyperdynamic{ef}",),
        "attached": ("hyperdynamic systolic function{ef}",),
    },
}

# Hypertrophy. Fields: seg (segment name), asym ("asymmetric " or ""), thick (measurement).
HYPERTROPHY = {
    "fragment": (
        "{asym}{seg} hypertrophy{thick}",
        "{asym}hypertrophy of the {seg} segments{thick}",
        "hypertrophied {seg} myocardium{thick}",
        "{asym}{seg} left ventricular hypertrophy{thick}",
    ),
    "sentence": (
        "there is {asym}hypertrophy of the {seg} segments{thick}",
        "the {seg} segments are hypertrophied{thick}",
        "the {seg} myocardium is hypertrophied{thick}",
    ),
}
HYPERTROPHY_UNLOCATED = {
    "fragment": (
        "left ventricular hypertrophy{thick}",
        "hypertrophied left ventricular myocardium{thick}",
    ),
    "sentence": ("there is left ventricular hypertrophy{thick}",),
}
# Appended to the hypertrophy statement after a semicolon.
MASSIVE_HYPERTROPHY_NOTES = (
    "massive hypertrophy of at least 30 mm is a recognized risk marker for sudden cardiac death",
    "hypertrophy of this degree (30 mm or more) confers increased sudden cardiac death risk",
)

# Regional wall motion in a coronary territory. Fields: noun, adj (motion), walls, artery.
INFARCT = {
    "fragment": (
        "{noun} of the {walls} walls in the {artery} territory, consistent with infarction",
        "{adj} {walls} segments, in keeping with {artery} territory infarction",
        "{artery} territory infarct with {noun} of the {walls} segments",
        "{noun} of the {walls} walls, likely representing {artery} territory infarction",
    ),
    "sentence": (
        "the {walls} segments are {adj}, in keeping with infarction in the {artery} territory",
        "there is {noun} of the {walls} walls, compatible with {artery} territory infarction",
    ),
}
INFARCT_UNLOCATED = {
    "fragment": ("regional {noun}, consistent with myocardial infarction",),
    "sentence": ("there is regional {noun}, in keeping with myocardial infarction",),
}

# Right ventricle. Fields: adv, adj (dilatation grade). Measurements are appended after.
RV_DILATED = {
    "fragment": (
        "{adv} dilated right ventricle",
        "{adv} enlarged right ventricle",
        "{adj} right ventricular dilatation",
    ),
    "sentence": ("the right ventricle is {adv} dilated", "the right ventricle is {adv} enlarged"),
}
RV_FUNCTION_ATTACHED = {
    True: (
        " with reduced systolic function",
        " with impaired systolic function",
        " with systolic dysfunction",
    ),
    False: (" with preserved systolic function", " with normal systolic function"),
}
RV_DYSFUNCTION = {
    "fragment": (
        "right ventricular systolic dysfunction",
        "reduced right ventricular ejection fraction",
        "impaired right ventricular systolic function",
    ),
    "sentence": (
        "right ventricular systolic function is reduced",
        "right ventricular systolic function is impaired",
    ),
}
RV_ABNORMAL = {
    "fragment": ("abnormal right ventricle", "right ventricular abnormality"),
    "sentence": ("the right ventricle is abnormal",),
}

# Effusion. Fields: size (may be empty), depth (measurement), extra (remark, may be empty).
EFFUSION = {
    "fragment": ("{size} pericardial effusion{depth}{extra}",),
    "sentence": (
        "there is a {size} pericardial effusion{depth}{extra}",
        "a {size} pericardial effusion is present{depth}{extra}",
    ),
}
EFFUSION_SIZES = {
    "small": ("small",),
    "moderate": ("moderate", "moderate-sized"),
    "large": ("large",),
}
EFFUSION_REMARKS = (
    ", without cine evidence of chamber collapse",
    ", with no diastolic chamber collapse",
)

# --- statements about what is absent or normal ---------------------------------------------
# Items a negation frame lists ("No pericardial effusion or left ventricular hypertrophy").
NEGATABLE = {
    "dilated_cardiomyopathy": ("left ventricular dilatation",),
    "hypertrophic_cardiomyopathy": ("left ventricular hypertrophy",),
    "myocardial_infarction": (
        "regional wall motion abnormality",
        "regional wall motion abnormality",
    ),
    "abnormal_right_ventricle": ("right ventricular dilatation",),
    "pericardial_effusion": ("pericardial effusion", "significant pericardial effusion"),
}
NEGATION_FRAMES = ("no {items}", "no evidence of {items}", "there is no {items}")
HEDGED_NEGATION_FRAMES = (
    "no definite {items}",
    "no convincing {items}",
    "no clear evidence of {items}",
)

# Fields: vol, thick, rv (measurements, may be empty).
NORMAL_STRUCTURE = {
    "dilated_cardiomyopathy": {
        "fragment": (
            "normal left ventricular size{vol}",
            "normal left ventricular cavity size{vol}",
        ),
        "sentence": ("the left ventricle is normal in size{vol}",),
    },
    "hypertrophic_cardiomyopathy": {
        "fragment": ("normal left ventricular wall thickness{thick}",),
        "sentence": ("left ventricular wall thickness is normal{thick}",),
    },
    "myocardial_infarction": {
        "fragment": ("normal regional wall motion",),
        "sentence": ("regional wall motion is normal",),
    },
    "abnormal_right_ventricle": {
        "fragment": (
            "normal right ventricular size and function{rv}",
            "normal right ventricular size and systolic function{rv}",
        ),
        "sentence": ("the right ventricle is normal in size and systolic function{rv}",),
    },
    "pericardial_effusion": {
        "fragment": ("unremarkable pericardium",),
        "sentence": ("the pericardium is unremarkable",),
    },
}
INCIDENTALS = (
    "no left ventricular thrombus",
    "no significant valvular abnormality on cine imaging",
    "normal aortic root caliber",
    "no pleural effusion",
    "visualized mediastinum unremarkable",
)

# --- hedges and caveats --------------------------------------------------------------------
HEDGED_FINDING_FRAMES = ("likely {np}", "probable {np}", "findings suggestive of {np}")
CAVEATS = {
    "normal": ("without tissue characterization, subtle myocardial disease cannot be excluded",),
    "dilated_cardiomyopathy": (
        "the etiology cannot be established from cine imaging alone; LGE imaging is suggested",
    ),
    "hypertrophic_cardiomyopathy": (
        "dynamic left ventricular outflow tract obstruction cannot be excluded on cine alone",
    ),
    "myocardial_infarction": (
        "cannot exclude residual viability in the infarcted segments; LGE imaging would help",
    ),
    "abnormal_right_ventricle": (
        "the underlying cause cannot be determined from cine imaging; correlate clinically",
    ),
    "pericardial_effusion": (
        "cannot exclude a small loculated component; echocardiographic correlation may help",
    ),
}

# --- diagnoses and conclusions -------------------------------------------------------------
# Fields: artery, wall (myocardial infarction); size (effusion).
DIAGNOSES = {
    "dilated_cardiomyopathy": (
        "dilated cardiomyopathy",
        "dilated cardiomyopathy (DCM)",
        "a dilated cardiomyopathy phenotype",
    ),
    "hypertrophic_cardiomyopathy": (
        "hypertrophic cardiomyopathy",
        "hypertrophic cardiomyopathy (HCM)",
        "a hypertrophic cardiomyopathy phenotype",
    ),
    "myocardial_infarction": (
        "myocardial infarction in the {artery} territory",
        "{artery} territory infarction",
        "an infarct in the {artery} territory",
        "{wall} myocardial infarction",
    ),
    "pericardial_effusion": ("a {size} pericardial effusion",),
}
UNLOCATED_INFARCT_DIAGNOSES = ("myocardial infarction", "a regional infarct")
HYPERTROPHY_VARIANT_DIAGNOSES = {
    "apical": "apical variant hypertrophic cardiomyopathy",
    "septal": "septal-predominant hypertrophic cardiomyopathy",
}
# Keyed by (dilated, reduced function).
RV_DIAGNOSES = {
    (True, True): (
        "right ventricular dilatation with systolic dysfunction",
        "a dilated right ventricle with reduced function",
    ),
    (True, False): ("right ventricular dilatation", "an enlarged right ventricle"),
    (False, True): (
        "right ventricular systolic dysfunction",
        "impaired right ventricular function",
    ),
    (False, False): ("an abnormal right ventricle", "right ventricular abnormality"),
}
NORMAL_CONCLUSIONS = (
    "normal cardiac MRI",
    "structurally normal heart",
    "normal study",
    "structurally and functionally normal heart",
    "normal cardiac MRI with normal biventricular size and systolic function",
)
HEDGED_NORMAL_CONCLUSIONS = (
    "likely normal study",
    "probably a structurally normal heart",
    "no convincing abnormality; likely normal study",
)
# Per writer. Field: dx (the joined diagnoses).
CONCLUSION_FRAMES = {
    "terse": ("{dx}", "impression: {dx}", "c/w {dx}"),
    "narrative": (
        "overall, the findings are consistent with {dx}",
        "the appearances are in keeping with {dx}",
        "taken together, the findings are compatible with {dx}",
    ),
    "numbered": ("findings consistent with {dx}", "{dx}", "appearances in keeping with {dx}"),
    "measurement_first": ("impression: {dx}", "conclusion: {dx}", "findings consistent with {dx}"),
    "hedging": (
        "findings are suggestive of {dx}",
        "likely {dx}",
        "appearances favor {dx}",
        "the most likely diagnosis is {dx}; correlation with tissue characterization is advised",
    ),
    "conclusion_first": ("{dx}", "diagnosis: {dx}", "findings consistent with {dx}"),
}
MEASUREMENT_LINE_LEADS = ("", "quantification: ", "volumes and function: ")
