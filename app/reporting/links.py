"""What ties a report to the hospital's records: the patient, the order, the imaging study and
the encounter, as FHIR References.

A caller that knows the EHR's resources passes literal references (`FhirLinks`); otherwise the
DICOM header supplies logical ones (Reference.identifier): PatientID as the Patient's
identifier, AccessionNumber as the ServiceRequest's (type ACSN, as IHE and the FHIR imaging
pages identify an order), and the StudyInstanceUID as the ImagingStudy's (urn:dicom:uid). A
caller's link always wins over the header's.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.dicom.identifiers import StudyIdentifiers

_ID = r"[A-Za-z0-9\-.]{1,64}"  # FHIR's id datatype
_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
DICOM_UID_SYSTEM = "urn:dicom:uid"


def _reference(*types: str) -> Any:
    return Annotated[str, Field(pattern=rf"^({'|'.join(types)})/{_ID}$")]


class FhirLinks(BaseModel):
    """Literal references (`Type/id`) to the EHR's own resources; all optional."""

    model_config = ConfigDict(extra="forbid")

    subject: _reference("Patient", "Group") | None = Field(  # type: ignore[valid-type]
        None, description="the patient, e.g. Patient/123", examples=["Patient/123"]
    )
    based_on: list[_reference("ServiceRequest")] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=8, description="the order(s), e.g. ServiceRequest/9"
    )
    imaging_study: _reference("ImagingStudy") | None = None  # type: ignore[valid-type]
    encounter: _reference("Encounter") | None = None  # type: ignore[valid-type]


class IdentifierSystems(BaseModel):
    """The hospital's Identifier.system of DICOM PatientID and AccessionNumber values."""

    patient_id: str | None = None
    accession: str | None = None


class BundleLinks(BaseModel):
    """The FHIR References of a report and its observations (None/empty: not known)."""

    subject: dict[str, Any] | None = None
    based_on: list[dict[str, Any]] = Field(default_factory=list)
    imaging_study: dict[str, Any] | None = None
    encounter: dict[str, Any] | None = None


def _identifier(value: str, system: str | None, **extra: Any) -> dict[str, Any]:
    return {**extra, **({"system": system} if system else {}), "value": value}


def bundle_links(
    links: FhirLinks | None, identifiers: StudyIdentifiers | None, systems: IdentifierSystems
) -> BundleLinks:
    """The references to put in the bundle: the caller's, else the header's identifiers."""
    links = links or FhirLinks()
    out = BundleLinks()
    if links.subject:
        out.subject = {"reference": links.subject}
    elif identifiers and identifiers.patient_id:
        system = systems.patient_id or identifiers.issuer_of_patient_id
        out.subject = {
            "type": "Patient",
            "identifier": _identifier(identifiers.patient_id, system),
        }
    if links.based_on:
        out.based_on = [{"reference": ref} for ref in links.based_on]
    elif identifiers and identifiers.accession_number:
        acsn = {"coding": [{"system": _V2_0203, "code": "ACSN", "display": "Accession ID"}]}
        identifier = _identifier(identifiers.accession_number, systems.accession, type=acsn)
        out.based_on = [{"type": "ServiceRequest", "identifier": identifier}]
    if links.imaging_study:
        out.imaging_study = {"reference": links.imaging_study}
    elif identifiers:
        uid = f"urn:oid:{identifiers.study_instance_uid}"
        out.imaging_study = {
            "type": "ImagingStudy",
            "identifier": {"system": DICOM_UID_SYSTEM, "value": uid},
        }
    if links.encounter:
        out.encounter = {"reference": links.encounter}
    return out


DEFAULT_SIMILAR_CASES = 5


class ReportOptions(BaseModel):
    """How a report is wanted: cited cases, FHIR or JSON, its links, posted or not."""

    similar_cases: int = DEFAULT_SIMILAR_CASES
    fhir: bool = Field(False, description="a FHIR Bundle instead of the JSON report")
    links: FhirLinks | None = None
    submit: bool = Field(False, description="post the bundle to the FHIR server (transaction)")
