"""The FHIR form of a draft: valid R4B, preliminary, the model identified as a Device, one
Observation per finding, and every reference resolvable inside the Bundle."""

import datetime as dt
import json
from pathlib import Path

import pytest
from archive_helpers import hit, scores
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from app.api.archive_schemas import FHIR_BUNDLE_EXAMPLE
from app.dicom.identifiers import StudyIdentifiers
from app.model_card import load_model_card
from app.reporting.draft import draft_impression
from app.reporting.fhir import DEVICE_EXTENSION, FHIR_MEDIA_TYPE, as_transaction, report_bundle
from app.reporting.links import FhirLinks, IdentifierSystems, bundle_links

CARD = load_model_card(Path(__file__).resolve().parents[2] / "model_repository")
ISSUED = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def bundle_of(present: set[str]) -> dict:
    similar = [hit("case-1", "The left ventricle is dilated. Small pericardial effusion.")]
    draft = draft_impression(scores(present), similar)
    return report_bundle(draft, CARD, "cardiac_findings_v1", ISSUED)


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_parses_back_with_the_r4b_models() -> None:
    bundle = bundle_of({"dilated_cardiomyopathy", "pericardial_effusion"})
    parsed = Bundle.model_validate_json(json.dumps(bundle))
    assert parsed.type == "collection" and len(parsed.entry) == 1 + 6 + 2
    assert FHIR_MEDIA_TYPE == "application/fhir+json"


def test_report_is_preliminary_with_the_draft_as_conclusion() -> None:
    bundle = bundle_of({"dilated_cardiomyopathy"})
    (report,) = resources(bundle, "DiagnosticReport")
    assert report["status"] == "preliminary"
    assert report["conclusion"].startswith("Dilated left ventricle")
    assert '"The left ventricle is dilated."' in report["conclusion"]
    assert report["meta"]["security"][0]["code"] == "AIAST"


def test_the_model_is_a_device_referenced_by_report_observations_and_provenance() -> None:
    bundle = bundle_of({"dilated_cardiomyopathy"})
    urls = {e["resource"]["resourceType"]: e["fullUrl"] for e in bundle["entry"]}
    (device,) = resources(bundle, "Device")
    assert device["deviceName"] == [{"name": CARD.name, "type": "model-name"}]
    assert device["version"][0]["value"] == CARD.version
    assert device["version"][0]["type"]["coding"][0]["code"] == "111003"  # Algorithm Version
    assert device["identifier"][0]["value"] == CARD.weights_sha256
    (report,) = resources(bundle, "DiagnosticReport")
    (extension,) = report["extension"]
    assert extension["url"] == DEVICE_EXTENSION
    assert extension["valueReference"]["reference"] == urls["Device"]
    assert all(o["device"]["reference"] == urls["Device"] for o in resources(bundle, "Observation"))
    (provenance,) = resources(bundle, "Provenance")
    assert provenance["agent"][0]["who"]["reference"] == urls["Device"]
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    targets = {t["reference"] for t in provenance["target"]}
    assert targets <= full_urls and urls["DiagnosticReport"] in targets
    assert {r["reference"] for r in report["result"]} <= full_urls


def test_one_observation_per_finding_with_its_probability_and_decision() -> None:
    bundle = bundle_of({"pericardial_effusion"})
    observations = {o["code"]["coding"][0]["code"]: o for o in resources(bundle, "Observation")}
    assert set(observations) == {s.label for s in scores(set())}
    effusion = observations["pericardial_effusion"]
    assert effusion["status"] == "preliminary"
    assert effusion["valueQuantity"] == {
        "value": 0.9,
        "unit": "probability",
        "system": "http://unitsofmeasure.org",
        "code": "1",
    }
    assert effusion["interpretation"][0]["coding"][0]["code"] == "POS"
    assert observations["normal"]["interpretation"][0]["coding"][0]["code"] == "NEG"
    assert effusion["component"][0]["valueQuantity"]["value"] == 0.5
    assert effusion["note"][0]["text"] == CARD.intended_use


def test_the_openapi_example_is_a_valid_bundle() -> None:
    Bundle.model_validate(FHIR_BUNDLE_EXAMPLE)


LINKS_HEADER = StudyIdentifiers(
    study_instance_uid="1.2.3.4",
    patient_id="MRN-0042",
    issuer_of_patient_id="HOSP-A",
    accession_number="ACC-77",
)


def linked_bundle(links: FhirLinks | None, identifiers: StudyIdentifiers | None) -> dict:
    draft = draft_impression(scores({"dilated_cardiomyopathy"}), [])
    systems = IdentifierSystems(patient_id="urn:oid:1.2.36.146", accession="urn:oid:1.2.36.147")
    linked = bundle_links(links, identifiers, systems)
    return report_bundle(draft, CARD, "cardiac_findings_v1", ISSUED, linked)


def test_caller_references_link_the_report_and_every_observation() -> None:
    links = FhirLinks(
        subject="Patient/123",
        based_on=["ServiceRequest/9"],
        imaging_study="ImagingStudy/7",
        encounter="Encounter/5",
    )
    bundle = linked_bundle(links, LINKS_HEADER)  # the caller's links win over the header's
    Bundle.model_validate(bundle)
    (report,) = resources(bundle, "DiagnosticReport")
    assert report["subject"] == {"reference": "Patient/123"}
    assert report["basedOn"] == [{"reference": "ServiceRequest/9"}]
    assert report["imagingStudy"] == [{"reference": "ImagingStudy/7"}]
    assert report["encounter"] == {"reference": "Encounter/5"}
    for observation in resources(bundle, "Observation"):
        assert observation["subject"] == {"reference": "Patient/123"}
        assert observation["basedOn"] == [{"reference": "ServiceRequest/9"}]
        assert observation["derivedFrom"] == [{"reference": "ImagingStudy/7"}]
        assert observation["encounter"] == {"reference": "Encounter/5"}


def test_header_identifiers_link_as_logical_references() -> None:
    bundle = linked_bundle(None, LINKS_HEADER)
    Bundle.model_validate(bundle)
    (report,) = resources(bundle, "DiagnosticReport")
    assert report["subject"] == {
        "type": "Patient",
        "identifier": {"system": "urn:oid:1.2.36.146", "value": "MRN-0042"},
    }
    (order,) = report["basedOn"]
    assert order["type"] == "ServiceRequest"
    assert order["identifier"]["value"] == "ACC-77"
    assert order["identifier"]["system"] == "urn:oid:1.2.36.147"
    assert order["identifier"]["type"]["coding"][0]["code"] == "ACSN"
    assert report["imagingStudy"] == [
        {
            "type": "ImagingStudy",
            "identifier": {"system": "urn:dicom:uid", "value": "urn:oid:1.2.3.4"},
        }
    ]
    assert "encounter" not in report  # DICOM carries no encounter a FHIR server would know
    assert not resources(bundle, "Patient")
    assert "MRN-0042" not in repr(LINKS_HEADER) and "ACC-77" not in repr(LINKS_HEADER)


def test_without_links_the_bundle_is_unlinked() -> None:
    bundle = linked_bundle(None, None)
    (report,) = resources(bundle, "DiagnosticReport")
    assert not {"subject", "basedOn", "imagingStudy", "encounter"} & set(report)


@pytest.mark.parametrize(
    "links",
    [
        {"subject": "ServiceRequest/1"},
        {"subject": "http://evil.example/Patient/1"},
        {"based_on": ["Patient/1"]},
        {"encounter": "Encounter/a b"},
        {"imaging_study": "ImagingStudy/" + "x" * 65},
        {"patient": "Patient/1"},
    ],
)
def test_malformed_links_are_refused(links: dict) -> None:
    with pytest.raises(ValidationError):
        FhirLinks.model_validate(links)


def test_transaction_posts_every_entry_and_keeps_the_references() -> None:
    bundle = linked_bundle(FhirLinks(subject="Patient/123"), None)
    transaction = as_transaction(bundle)
    assert Bundle.model_validate(transaction).type == "transaction"
    assert [e["request"] for e in transaction["entry"]] == [
        {"method": "POST", "url": e["resource"]["resourceType"]} for e in bundle["entry"]
    ]
    assert bundle["type"] == "collection"  # the original is left as it was
