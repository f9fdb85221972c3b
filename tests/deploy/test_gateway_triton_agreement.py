"""The gateway and Triton, as deployed, agree: ports, model names, versions, the repository."""

import json
from pathlib import Path

import pytest
from deploy_helpers import (
    OVERLAYS,
    PROJECT_ROOT,
    REPOSITORY,
    Manifest,
    container,
    dockerfile_instructions,
    one,
)

from app.config import ServingSettings
from app.deploy.triton_repository import write_variant
from app.inference.backend import TEXT_MODEL, VIDEO_MODEL
from app.inference.model_config import read_model_config
from app.model_card import MODEL_VERSION_PARAMETER, load_model_card


def gateway_settings(objects: list[Manifest]) -> dict[str, str]:
    (config_map,) = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("gateway-settings")
    ]
    return dict(config_map["data"])


def image_tag(deployment: Manifest) -> tuple[str, str]:
    name, _, tag = container(deployment)["image"].rpartition(":")
    return name, tag


def dockerfile_env(name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in dockerfile_instructions(PROJECT_ROOT / name):
        if op == "ENV":
            env.update(item.split("=", 1) for item in args.split())
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_reaches_tritons_grpc_port(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    settings = gateway_settings(objects)
    fields = {k.removeprefix("CMR_").lower(): v for k, v in settings.items()}
    assert set(fields) <= set(ServingSettings.model_fields)  # no typo is silently ignored
    ServingSettings.model_validate(fields)  # and every value parses
    assert settings["CMR_BACKEND"] == "triton" and settings["CMR_TRITON_PROTOCOL"] == "grpc"
    host, port = settings["CMR_TRITON_URL"].rsplit(":", 1)
    service = one(objects, "Service", host)
    (grpc,) = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
    assert grpc["port"] == int(port)
    triton = one(objects, "Deployment", "triton")
    ports = {p["name"]: p["containerPort"] for p in container(triton)["ports"]}
    assert ports[grpc["targetPort"]] == 8001 and "--grpc-port=8001" in container(triton)["args"][2]
    assert service["spec"]["selector"] == triton["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_serves_where_its_service_and_image_say(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    service = one(objects, "Service", "gateway")
    (http,) = service["spec"]["ports"]
    gateway = container(one(objects, "Deployment", "gateway"))
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    command = json.loads(dict(dockerfile_instructions(PROJECT_ROOT / "Dockerfile"))["CMD"])
    assert ports[http["targetPort"]] == int(command[command.index("--port") + 1])
    image_repository = dockerfile_env("Dockerfile")["CMR_MODEL_REPOSITORY"]
    assert gateway_settings(objects)["CMR_MODEL_REPOSITORY"] == image_repository


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_both_images_carry_the_cards_model_version(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    """Rolling a new model = new images tagged with the card's version (k8s/README.md)."""
    version = load_model_card(REPOSITORY).version
    objects = rendered[overlay]
    assert image_tag(one(objects, "Deployment", "gateway"))[1] == version
    assert image_tag(one(objects, "Deployment", "triton"))[1] == f"{version}-{overlay}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_triton_serves_the_models_and_version_the_gateway_expects(
    overlay: str, tmp_path: Path
) -> None:
    """The variant the overlay's image bakes (Dockerfile.triton, VARIANT=overlay) has the
    gateway's model names, the card's version and the production max batch (which the
    Triton backend reads from the production config to chunk its requests)."""
    repository = write_variant(REPOSITORY, tmp_path, overlay)
    card = load_model_card(REPOSITORY)
    served = sorted(p.parent.name for p in repository.glob("*/config.pbtxt"))
    assert served == sorted([VIDEO_MODEL, TEXT_MODEL])
    for model in served:
        config = read_model_config(repository / model / "config.pbtxt")
        production = read_model_config(REPOSITORY / model / "config.pbtxt")
        assert config.parameters[MODEL_VERSION_PARAMETER].string_value == card.version
        assert config.max_batch_size == production.max_batch_size


def test_the_in_flight_metric_the_hpa_scales_on_is_exported() -> None:
    metrics = (PROJECT_ROOT / "app" / "api" / "metrics.py").read_text()
    assert '"cmr_http_requests_in_flight"' in metrics
