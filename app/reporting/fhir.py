"""A draft as FHIR R4 (validated with the R4B models of fhir.resources): what an EHR ingests.

The Bundle (type `collection`) holds:
- one `Device`: the model, identified as IHE AI Results / DICOM TID 4019 identify an algorithm:
  deviceName (type model-name) = Algorithm Name, version (typed DCM 111003 "Algorithm
  Version") = the model card's version, identifier = sha256 of the released weights;
- one `Observation` per finding: valueQuantity = probability (UCUM "1"), interpretation POS/NEG
  from the calibrated threshold (a component carries the threshold; for a present finding
  another names the slices that drove it, in words), `device` -> the Device;
- one `Observation` per measurement by prompt ranking (LVEF coded LOINC 10230-1): the estimate
  in UCUM units, a component whose valueRange is its interval;
- one `DiagnosticReport`, status preliminary, conclusion = the draft impression, result -> the
  Observations;
- one `Provenance` whose agent (author) is the Device and whose targets are the report and the
  Observations.
Why both a Provenance and an extension for the report's device: R4 DiagnosticReport has no
device element (performer admits no Device), Provenance.agent.who is R4's standard way to name
a software author and what the HL7 AI Transparency guide builds on, and the extension
`DEVICE_EXTENSION` keeps a direct reference for receivers that ignore Provenance. Every AI
resource is tagged `AIAST` (v3-ObservationValue, "Artificial Intelligence asserted") in
meta.security, and carries the intended-use disclaimer.

Links (app/reporting/links.py): the report and each Observation name the patient (`subject`),
the order (`basedOn`) and the `encounter` when known; the report names the ImagingStudy it
reads (`imagingStudy`), each Observation the same study (`derivedFrom`). The bundle holds no
Patient resource: references point at the EHR's own resources or carry their identifiers.
`as_transaction` turns the bundle into a FHIR `transaction` (every entry a POST) for a server
to store atomically (app/reporting/fhir_server.py).
"""

import datetime as dt
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from app.model_card import ModelCard
from app.pipeline.measure import Measurement
from app.reporting.draft import Draft
from app.reporting.links import BundleLinks

FHIR_MEDIA_TYPE = "application/fhir+json"
DEVICE_EXTENSION = "https://cmr-clip.dev/fhir/StructureDefinition/ai-device"
FINDING_SYSTEM = "https://cmr-clip.dev/fhir/CodeSystem/cardiac-findings"
MEASUREMENT_SYSTEM = "https://cmr-clip.dev/fhir/CodeSystem/cardiac-measurements"
_LOINC = {"lvef_pct": ("10230-1", "Left ventricular Ejection fraction")}
_UCUM_UNITS = {"%": "%", "mL/m²": "mL/m2"}
WEIGHTS_SYSTEM = "https://cmr-clip.dev/fhir/NamingSystem/weights-sha256"
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_UCUM = "http://unitsofmeasure.org"
_AI_ASSERTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "AIAST",
    "display": "Artificial Intelligence asserted",
}
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_IMAGING = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "imaging",
    "display": "Imaging",
}
_RADIOLOGY = {
    "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
    "code": "RAD",
    "display": "Radiology",
}
_AUTHOR = {
    "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
    "code": "author",
    "display": "Author",
}


def _probability(value: float) -> dict[str, Any]:
    return {"value": round(value, 6), "unit": "probability", "system": _UCUM, "code": "1"}


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": round(value, 1), "unit": unit, "system": _UCUM, "code": _UCUM_UNITS[unit]}


def _measurement(
    m: Measurement,
    instant: str,
    device_ref: dict[str, Any],
    note: list[dict[str, str]],
    links: BundleLinks,
) -> dict[str, Any]:
    coding = [{"system": MEASUREMENT_SYSTEM, "code": m.name, "display": m.label}]
    if m.name in _LOINC:
        code, display = _LOINC[m.name]
        coding.insert(0, {"system": "http://loinc.org", "code": code, "display": display})
    return {
        "resourceType": "Observation",
        "meta": {"security": [_AI_ASSERTED]},
        "status": "preliminary",
        "category": [{"coding": [_IMAGING]}],
        "code": {"coding": coding, "text": m.label},
        **_linked(links, study_field="derivedFrom"),
        "issued": instant,
        "valueQuantity": _quantity(m.value, m.unit),
        "component": [
            {
                "code": {"text": f"{m.coverage:.0%} interval (split conformal)"},
                "valueRange": {
                    "low": _quantity(m.lower, m.unit),
                    "high": _quantity(m.upper, m.unit),
                },
            }
        ],
        "method": {"text": "zero-shot prompt ranking over a grid of values"},
        "device": device_ref,
        "note": note,
    }


def _linked(links: BundleLinks, *, study_field: str) -> dict[str, Any]:
    """The link elements of a report (study_field "imagingStudy") or an Observation
    ("derivedFrom"), only those known."""
    fields: dict[str, Any] = {
        "basedOn": links.based_on or None,
        "subject": links.subject,
        "encounter": links.encounter,
        study_field: [links.imaging_study] if links.imaging_study else None,
    }
    return {name: value for name, value in fields.items() if value is not None}


def report_bundle(
    draft: Draft,
    card: ModelCard,
    condition_set: str,
    issued: dt.datetime,
    links: BundleLinks | None = None,
) -> dict[str, Any]:
    """The FHIR JSON of a draft, linked to the patient, order, study and encounter `links`
    names. Raises pydantic.ValidationError if it were not valid R4B (a bug, never the caller's
    input: links are validated when they come in)."""
    links = links or BundleLinks()
    instant = issued.astimezone(dt.UTC).isoformat(timespec="seconds")
    device_url, report_url = _urn(), _urn()
    device_ref = {"reference": device_url, "display": f"{card.name} {card.version}"}
    security = {"security": [_AI_ASSERTED]}
    note = [{"text": card.intended_use}]
    device = {
        "resourceType": "Device",
        "identifier": [{"system": WEIGHTS_SYSTEM, "value": card.weights_sha256}],
        "status": "active",
        "deviceName": [{"name": card.name, "type": "model-name"}],
        "type": {"text": "AI algorithm: zero-shot cine cardiac MRI model (CMR-CLIP)"},
        "version": [
            {
                "type": {
                    "coding": [{"system": _DCM, "code": "111003", "display": "Algorithm Version"}]
                },
                "value": card.version,
            }
        ],
        "note": note,
    }
    observations: list[tuple[str, dict[str, Any]]] = []
    for finding in draft.findings:
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "meta": security,
            "status": "preliminary",
            "category": [{"coding": [_IMAGING]}],
            "code": {
                "coding": [{"system": FINDING_SYSTEM, "code": finding.label}],
                "text": finding.label.replace("_", " "),
            },
            **_linked(links, study_field="derivedFrom"),
            "issued": instant,
            "valueQuantity": _probability(finding.probability),
            "method": {"text": f"zero-shot, positive vs negative prompts of {condition_set}"},
            "device": device_ref,
            "note": note,
        }
        if finding.threshold is not None:
            code, display = ("POS", "Positive") if finding.present else ("NEG", "Negative")
            observation["interpretation"] = [
                {"coding": [{"system": _INTERPRETATION, "code": code, "display": display}]}
            ]
            observation["component"] = [
                {
                    "code": {"text": "calibrated decision threshold"},
                    "valueQuantity": _probability(finding.threshold),
                }
            ]
            if finding.driving_slices:
                observation["component"].append(
                    {
                        "code": {"text": "clips that drove the finding (occlusion)"},
                        "valueString": finding.driving_slices,
                    }
                )
        observations.append((_urn(), observation))
    for measurement in draft.measurements:
        observations.append((_urn(), _measurement(measurement, instant, device_ref, note, links)))
    report = {
        "resourceType": "DiagnosticReport",
        "meta": security,
        "extension": [{"url": DEVICE_EXTENSION, "valueReference": device_ref}],
        "status": "preliminary",
        "category": [{"coding": [_RADIOLOGY]}],
        "code": {"text": "Cardiac MRI: AI-drafted preliminary impression"},
        **_linked(links, study_field="imagingStudy"),
        "issued": instant,
        "result": [{"reference": url} for url, _ in observations],
        "conclusion": draft.text,
    }
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": report_url}] + [{"reference": url} for url, _ in observations],
        "recorded": instant,
        "agent": [{"type": {"coding": [_AUTHOR]}, "who": device_ref}],
    }
    entries = [(report_url, report), *observations, (device_url, device), (_urn(), provenance)]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": instant,
        "entry": [{"fullUrl": url, "resource": resource} for url, resource in entries],
    }
    Bundle.model_validate(bundle)
    return bundle


def as_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle as a FHIR `transaction`: every entry created with a POST to its type, the
    urn:uuid fullUrls resolved by the server into the ids it assigns."""
    transaction = {
        **bundle,
        "type": "transaction",
        "entry": [
            {**entry, "request": {"method": "POST", "url": entry["resource"]["resourceType"]}}
            for entry in bundle["entry"]
        ],
    }
    Bundle.model_validate(transaction)
    return transaction
