"""A result as a DICOM Structured Report (highdicom): what PACS stores and viewers show.

A Comprehensive 3D SR holding a TID 1500 Measurement Report, the pattern IHE AI Results (AIR)
builds on:
- observer: the model as a device (TID 1004), its UID derived from name, version and weights,
  so every result of one released model names the same device; the version is also the SR's
  Software Versions and the Algorithm Identification (TID 4019) of every finding;
- procedure reported: Cardiac MRI (SCT 241620005);
- one measurement group (TID 1501) per condition: finding type = the condition (a local code,
  99CMRCLIP, as the labels are free text), a Probability (DCM 122157, UCUM "1") measurement,
  and, where a calibrated threshold decides it, a qualitative evaluation Present / Absent;
- evidence: every source instance the model saw (Current Requested Procedure Evidence), in
  the source study: the SR joins the study it describes (same StudyInstanceUID, patient and
  study attributes copied from the source), in a series of its own.
The SR is PRELIMINARY and UNVERIFIED, and its series description says "not for diagnostic use".
"""

import datetime as dt

from highdicom.coding_schemes import CodingSchemeIdentificationItem
from highdicom.sr import (
    AlgorithmIdentification,
    CodedConcept,
    Comprehensive3DSR,
    DeviceObserverIdentifyingAttributes,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    QualitativeEvaluation,
    TrackingIdentifier,
)
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from app.dicom.evidence import StudyEvidence
from app.model_card import ModelCard
from app.zeroshot.scoring_sets import ConditionScore

LOCAL_SCHEME = "99CMRCLIP"
MANUFACTURER = "CMR-CLIP project"
SERIES_NUMBER = 9901  # high, as AI result series usually are, so viewers list them last
_MAX_MEANING = 64  # LO


def device_uid(card: ModelCard) -> str:
    """The model's device UID: the same for every result of one released model."""
    return generate_uid(prefix=None, entropy_srcs=[card.name, card.version, card.weights_sha256])


def _finding(label: str) -> CodedConcept:
    return CodedConcept(value=label, scheme_designator=LOCAL_SCHEME, meaning=label[:_MAX_MEANING])


def _group(
    score: ConditionScore, algorithm: AlgorithmIdentification, scoring_set: str
) -> MeasurementsAndQualitativeEvaluations:
    finding = _finding(score.label)
    evaluations = None
    if score.threshold is not None:
        present = score.probability >= score.threshold
        value = codes.SCT.Present if present else codes.SCT.Absent
        evaluations = [QualitativeEvaluation(name=finding, value=value)]
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(
            uid=generate_uid(), identifier=f"{scoring_set}: {score.label}"[:_MAX_MEANING]
        ),
        finding_type=finding,
        algorithm_id=algorithm,
        measurements=[
            Measurement(
                name=codes.DCM.Probability,
                value=round(score.probability, 6),
                unit=codes.UCUM.NoUnits,
                algorithm_id=algorithm,
            )
        ],
        qualitative_evaluations=evaluations,
    )


def result_sr(
    evidence: StudyEvidence,
    card: ModelCard,
    scoring_set: str,
    scores: list[ConditionScore],
    now: dt.datetime,
) -> Comprehensive3DSR:
    """The SR of one result: `scores` of the condition set named `scoring_set`, for the
    study of `evidence`. Raises ValueError (highdicom's checks) if it cannot be built."""
    algorithm = AlgorithmIdentification(
        name=card.name, version=card.version, parameters=[f"condition set {scoring_set}"]
    )
    observer = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=device_uid(card),
            name=f"{card.name} {card.version}",
            manufacturer_name=MANUFACTURER,
            model_name=card.name,
        ),
    )
    report = MeasurementReport(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=codes.SCT.CardiacMRI,
        imaging_measurements=[_group(s, algorithm, scoring_set) for s in scores],
    )
    return Comprehensive3DSR(
        evidence=evidence.datasets(),
        content=report,
        series_instance_uid=generate_uid(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=card.name,
        software_versions=card.version,
        series_description=f"{card.name} {card.version} AI result, not for diagnostic use",
        specific_character_set="ISO_IR 192",  # UTF-8: labels are free text, names any script
        content_date=now.date(),
        content_time=now.time(),
        coding_schemes=[
            CodingSchemeIdentificationItem(
                designator=LOCAL_SCHEME, name="CMR-CLIP condition labels"
            )
        ],
    )
