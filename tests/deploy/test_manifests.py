"""Every overlay renders (kubectl's kustomize), every object validates against its schema, and
the objects say what the issue asks: probes, security, spreading, autoscaling, isolation."""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.prometheus_operator.v1 import PrometheusRule, ServiceMonitor
from deploy_helpers import K8S, OVERLAYS, Manifest, container, one, only, triton_release

from app.archive.__main__ import main as archive_cli
from app.archive.store import SqliteArchive
from app.config import ServingSettings
from app.deploy.triton_repository import TRT_ENGINE_CACHE
from app.model_card import load_model_card

CARD = load_model_card(K8S.parent / "model_repository")

# Kubernetes versions whose schemas the objects must pass (kubernetes-validate, strict): the
# newest it ships and the oldest upstream still supports.
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")
# prometheus-operator's kinds have no schema in kubernetes-validate: they are parsed with the
# models cloudcoil generates from the operator's CRDs, and must survive a round trip unchanged
# (an unknown or misspelt field is dropped by the model, so the round trip catches it).
OPERATOR_MODELS: dict[str, Any] = {
    "PrometheusRule": PrometheusRule,
    "ServiceMonitor": ServiceMonitor,
}
NAMESPACE = "cmr-clip"
STARTUP_BUDGET_S = 600  # TensorRT engines of both encoders, built at warm-up


def pod_spec(deployment: Manifest) -> Manifest:
    return dict(deployment["spec"]["template"]["spec"])


def probe_budget_s(probe: Manifest) -> int:
    return int(probe.get("periodSeconds", 10)) * int(probe.get("failureThreshold", 3))


def test_every_object_is_namespaced_and_unique(rendered: dict[str, list[Manifest]]) -> None:
    for overlay, objects in rendered.items():
        keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
        assert len(keys) == len(set(keys)), overlay
        for item in objects:
            if item["kind"] != "Namespace":
                assert item["metadata"].get("namespace") == NAMESPACE, (overlay, item["kind"])
        assert not list(only(objects, "Secret")), "no secret values are committed"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_objects_validate_against_the_kubernetes_schemas(
    rendered: dict[str, list[Manifest]], overlay: str, version: str
) -> None:
    builtin = [o for o in rendered[overlay] if o["kind"] not in OPERATOR_MODELS]
    assert len(builtin) >= 10
    for item in builtin:
        kubernetes_validate.validate(item, version, strict=True)


def test_operator_objects_validate_against_the_operator_schemas(
    rendered: dict[str, list[Manifest]],
) -> None:
    found = [o for o in rendered["gpu"] if o["kind"] in OPERATOR_MODELS]
    assert sorted(o["kind"] for o in found) == [
        "PrometheusRule",
        "ServiceMonitor",
        "ServiceMonitor",
    ]
    for item in found:
        model = OPERATOR_MODELS[item["kind"]].model_validate(item)
        assert model.model_dump(by_alias=True, exclude_unset=True, mode="json") == item


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_non_root_read_only_without_capabilities_or_token(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    deployments = list(only(rendered[overlay], "Deployment"))
    assert {d["metadata"]["name"] for d in deployments} == {"gateway", "triton"}
    for deployment in deployments:
        spec = pod_spec(deployment)
        assert spec["automountServiceAccountToken"] is False
        account = one(rendered[overlay], "ServiceAccount", spec["serviceAccountName"])
        assert account["automountServiceAccountToken"] is False
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 10000
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        main = container(deployment)
        security = main["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(main["resources"][kind]), (deployment, kind)
        assert spec["topologySpreadConstraints"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_liveness_never_asks_triton(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    gateway = container(one(rendered[overlay], "Deployment", "gateway"))
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    health = (K8S.parent / "app" / "api" / "routes" / "health.py").read_text()
    healthz = health[health.index('"/healthz"') : health.index('"/readyz"')]
    assert "engine" not in healthz.split("async def healthz")[1], "/healthz touches the backend"
    secrets = [e for e in gateway["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert [e["name"] for e in secrets] == ["CMR_API_KEYS_SHA256"]


INTEGRATION_SECRETS = (  # settings that name or open the hospital's systems
    "CMR_DICOMWEB_SOURCES",
    "CMR_FHIR_SERVER_URL",
    "CMR_FHIR_SERVER_TOKEN",
    "CMR_JOBS_WEBHOOK_SECRET",
    "CMR_AUDIT_SALT",
)


def gateway_settings(objects: list[Manifest]) -> dict[str, str]:
    (config,) = (
        o
        for o in only(objects, "ConfigMap")
        if o["metadata"]["name"].startswith("gateway-settings")
    )
    return dict(config["data"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pacs_and_fhir_settings_come_from_a_secret(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    gateway = container(one(rendered[overlay], "Deployment", "gateway"))
    sources = [s["secretRef"] for s in gateway["envFrom"] if "secretRef" in s]
    assert sources == [{"name": "cmr-integrations", "optional": True}]
    settings = gateway_settings(rendered[overlay])
    assert not set(INTEGRATION_SECRETS) & set(settings), "secret settings in the ConfigMap"
    assert not set(INTEGRATION_SECRETS) & {e["name"] for e in gateway.get("env", [])}
    fields = ServingSettings.model_fields
    for name in INTEGRATION_SECRETS:  # each is a setting the gateway reads (or will: the PACS)
        assert name.removeprefix("CMR_").lower() in fields or name == "CMR_DICOMWEB_SOURCES"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_case_archive_and_the_jobs_live_on_writable_volumes(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    deployment = one(rendered[overlay], "Deployment", "gateway")
    spec, gateway = pod_spec(deployment), container(deployment)
    settings = gateway_settings(rendered[overlay])
    mounts = {m["mountPath"]: m["name"] for m in gateway["volumeMounts"]}
    archive, jobs = Path(settings["CMR_ARCHIVE_PATH"]), settings["CMR_JOBS_DIR"]
    assert str(archive.parent) in mounts and jobs in mounts
    volumes = {v["name"]: v for v in spec["volumes"]}
    for path in (str(archive.parent), jobs):
        assert (
            "emptyDir" in volumes[mounts[path]] or "persistentVolumeClaim" in volumes[mounts[path]]
        )
    assert not any(
        m.get("readOnly")
        for m in gateway["volumeMounts"]
        if m["mountPath"] in (str(archive.parent), jobs)
    )
    # The init step seeds that volume with the image's archive, through the archive CLI.
    (seed,) = spec["initContainers"]
    assert seed["image"] == gateway["image"]
    assert {m["mountPath"]: m["name"] for m in seed["volumeMounts"]}[str(archive.parent)] == mounts[
        str(archive.parent)
    ]
    command = seed["command"]
    assert command[:4] == ["python", "-m", "app.archive", "seed"]
    shipped = command[command.index("--from") + 1]
    assert command[command.index("--archive") + 1] == str(archive)
    dockerfile = (K8S.parent / "Dockerfile").read_text()
    assert f"COPY archive/demo/demo.sqlite {shipped}" in dockerfile
    assert seed["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_seed_step_serves_the_demo_archive_and_keeps_one_in_place(tmp_path: Path) -> None:
    """What the init container runs, here: the seeded copy is the demo archive, a second run
    (a pod restart) or an archive put there by an operator is left alone."""
    target = tmp_path / "volume" / "archive.sqlite"
    demo = K8S.parent / "archive" / "demo" / "demo.sqlite"
    archive_cli(["seed", "--from", str(demo), "--archive", str(target)])
    seeded = SqliteArchive.open(target, CARD.version, CARD.embed_dim)
    try:
        assert seeded.count() == 200 and seeded.stored_model_version == CARD.version
    finally:
        seeded.close()
    target.write_bytes(b"an operator's archive")
    archive_cli(["seed", "--from", str(demo), "--archive", str(target)])
    assert target.read_bytes() == b"an operator's archive"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_triton_runs_with_production_flags_and_probes(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    triton = container(one(rendered[overlay], "Deployment", "triton"))
    script = " ".join(triton["args"])
    for flag in (
        "--model-repository=/models",
        "--strict-readiness=true",
        "--model-control-mode=none",
        "--disable-auto-complete-config",
        '--http-restricted-api="${apis}:admin-key=${key}"',
        '--grpc-restricted-protocol="${apis}:admin-key=${key}"',
    ):
        assert flag in script
    assert 'apis="model-repository,shared-memory,statistics,trace,logging"' in script
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert probe_budget_s(triton["startupProbe"]) >= STARTUP_BUDGET_S
    assert {p["name"]: p["containerPort"] for p in triton["ports"]} == {
        "http": 8000,
        "grpc": 8001,
        "metrics": 8002,
    }
    mounts = {m["mountPath"] for m in triton["volumeMounts"]}
    assert TRT_ENGINE_CACHE in mounts


def test_gpu_overlay_gives_triton_a_gpu_and_a_persistent_engine_cache(
    rendered: dict[str, list[Manifest]],
) -> None:
    gpu, cpu = (one(rendered[o], "Deployment", "triton") for o in ("gpu", "cpu"))
    assert container(gpu)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in str(container(cpu)["resources"])
    volumes = {v["name"]: v for v in pod_spec(gpu)["volumes"]}
    claim = volumes["trt-engine-cache"]["persistentVolumeClaim"]["claimName"]
    assert "emptyDir" not in volumes["trt-engine-cache"]
    assert claim.endswith(triton_release().replace(".", "-")), "a new TensorRT, a new cache"
    assert one(rendered["gpu"], "PersistentVolumeClaim", claim)


def test_gpu_overlay_autoscales_and_keeps_two_gateways(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["gpu"]
    assert one(objects, "Deployment", "gateway")["spec"]["replicas"] >= 2
    assert one(objects, "PodDisruptionBudget", "gateway")["spec"]["minAvailable"] >= 1
    adapter = yaml.safe_load((K8S / "monitoring" / "prometheus-adapter-values.yaml").read_text())
    served = {rule["name"]["as"] for rule in adapter["rules"]["custom"]}
    metrics = {}
    for hpa in only(objects, "HorizontalPodAutoscaler"):
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert one(objects, target["kind"], target["name"])
        metrics[target["name"]] = {
            m["pods"]["metric"]["name"] if m["type"] == "Pods" else m["resource"]["name"]
            for m in hpa["spec"]["metrics"]
        }
    assert metrics == {
        "gateway": {"cpu", "cmr_http_requests_in_flight"},
        "triton": {"triton_queue_to_compute_ratio"},
    }
    assert metrics["gateway"] - {"cpu"} | metrics["triton"] <= served
    gateway_hpa = one(objects, "HorizontalPodAutoscaler", "gateway")
    assert gateway_hpa["spec"]["minReplicas"] >= 2


def test_cpu_overlay_is_one_replica_each_without_autoscaling(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["cpu"]
    for name in ("gateway", "triton"):
        assert one(objects, "Deployment", name)["spec"]["replicas"] == 1
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", *OPERATOR_MODELS):
        assert not list(only(objects, kind)), kind


def selects(peer: Manifest, component: str) -> bool:
    labels = peer.get("podSelector", {}).get("matchLabels", {})
    return "namespaceSelector" not in peer and labels.get("app.kubernetes.io/component") == (
        component
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_reaches_triton(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    policies = list(only(rendered[overlay], "NetworkPolicy"))
    deny = one(policies, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    triton = one(policies, "NetworkPolicy", "triton")["spec"]
    inference, metrics = triton["ingress"]
    assert all(selects(peer, "gateway") for peer in inference["from"])
    assert {p["port"] for p in inference["ports"]} == {"http", "grpc"}
    assert [p["port"] for p in metrics["ports"]] == ["metrics"]
    assert all(set(peer) == {"namespaceSelector"} for peer in metrics["from"])
    assert "egress" not in triton  # Egress in policyTypes and no rule: nothing goes out
    for policy in policies:  # no other policy lets anything into Triton
        if policy["metadata"]["name"] != "triton":
            selector = policy["spec"]["podSelector"].get("matchLabels", {})
            is_triton = selector.get("app.kubernetes.io/component") == "triton"
            assert not (is_triton and policy["spec"].get("ingress"))
    gateway = one(policies, "NetworkPolicy", "gateway")["spec"]
    (to_triton, _dns) = gateway["egress"]
    assert all(selects(peer, "triton") for peer in to_triton["to"])
