"""The condition vocabulary every part shares: the generator (app/synth), the condition sets
(app/zeroshot), the draft reports (app/reporting), the archive's labels and the evaluation.

Diagnoses follow the ACDC definitions (LV volume index, EF, wall thickness, regional motion,
RV volume/EF) plus pericardial effusion as an independent finding.
"""

PRIMARY_DIAGNOSES = (
    "normal",
    "dilated_cardiomyopathy",
    "hypertrophic_cardiomyopathy",
    "myocardial_infarction",
    "abnormal_right_ventricle",
)
CONDITIONS = (*PRIMARY_DIAGNOSES, "pericardial_effusion")
# Regional motion only, with normal end-diastolic geometry: no single frame can reveal it.
MOTION_ONLY_CONDITION = "myocardial_infarction"

# Coronary territory -> the ways a report names its culprit artery.
CORONARY_ARTERIES: dict[str, tuple[str, ...]] = {
    "LAD": ("LAD", "left anterior descending artery"),
    "RCA": ("RCA", "right coronary artery"),
    "LCx": ("LCx", "circumflex", "left circumflex artery"),
}

# Lower case, matched as word prefixes ("infarct" also finds "infarction"). LV/RV abbreviations
# of every phrase are added by app/domain/reading_lexicon.py.
POSITIVE_PHRASES: dict[str, tuple[str, ...]] = {
    "normal": (
        "normal cardiac mri",
        "structurally normal heart",
        "functionally normal heart",
        "normal biventricular size",
        "normal study",
    ),
    "dilated_cardiomyopathy": (
        "dilated cardiomyopathy",
        "dcm",
        "dilated left ventricle",
        "enlarged left ventricle",
        "left ventricular dilatation",
        "left ventricular enlargement",
        "left ventricle is dilated",
        "left ventricle is enlarged",
    ),
    "hypertrophic_cardiomyopathy": (
        "hypertrophic cardiomyopathy",
        "hcm",
        "hypertrophy",
        "hypertrophied",
    ),
    "myocardial_infarction": (
        "myocardial infarction",
        "infarct",
        "regional wall motion abnormality",
        *(f"{name.lower()} territory" for names in CORONARY_ARTERIES.values() for name in names),
    ),
    "abnormal_right_ventricle": (
        "dilated right ventricle",
        "enlarged right ventricle",
        "right ventricular dilatation",
        "right ventricular enlargement",
        "right ventricle is dilated",
        "right ventricle is enlarged",
        "right ventricular systolic dysfunction",
        "right ventricular systolic function is reduced",
        "right ventricular systolic function is impaired",
        "reduced right ventricular",
        "impaired right ventricular",
        "abnormal right ventricle",
        "right ventricular abnormality",
        "right ventricle is abnormal",
    ),
    "pericardial_effusion": ("pericardial effusion",),
}

# Wordings of each condition a clinician might type as a zero-shot prompt, which no template
# here produces: they test whether the model learned the concept or memorised our phrasing.
PARAPHRASE_HOLDOUT: dict[str, tuple[str, ...]] = {
    "normal": (
        "heart without any structural or functional abnormality",
        "unremarkable cardiac examination",
        "healthy heart with normally contracting ventricles",
    ),
    "dilated_cardiomyopathy": (
        "large left ventricular cavity that contracts poorly",
        "left ventricular cavity expansion with globally weak contraction",
        "cardiomyopathy with a big, poorly pumping left ventricle",
    ),
    "hypertrophic_cardiomyopathy": (
        "abnormally thick left ventricular muscle",
        "thick-walled heart muscle disease",
        "heart muscle thickened out of proportion to loading",
    ),
    "myocardial_infarction": (
        "scar from a heart attack",
        "dead myocardium after a coronary blockage",
        "heart attack damage in one coronary distribution",
    ),
    "abnormal_right_ventricle": (
        "right-sided pumping chamber that is large or weak",
        "failing right heart chamber",
        "poorly contracting right heart",
    ),
    "pericardial_effusion": (
        "fluid collecting around the heart",
        "fluid in the sac surrounding the heart",
        "pericardial space distended by fluid",
    ),
}
