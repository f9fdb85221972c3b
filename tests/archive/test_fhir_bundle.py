"""The FHIR form of a draft: valid R4B, preliminary, the model identified as a Device, one
Observation per finding, and every reference resolvable inside the Bundle."""

import datetime as dt
import json
from pathlib import Path

from archive_helpers import hit, scores
from fhir.resources.R4B.bundle import Bundle

from app.api.archive_schemas import FHIR_BUNDLE_EXAMPLE
from app.model_card import load_model_card
from app.reporting.draft import draft_impression
from app.reporting.fhir import DEVICE_EXTENSION, FHIR_MEDIA_TYPE, report_bundle

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
