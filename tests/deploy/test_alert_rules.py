"""The recording and alert rules: well-formed, accepted by `promtool check rules`, and behaving
as intended under `promtool test rules`; prometheus-adapter's queries are valid PromQL too."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import K8S, run_tool

RULES = K8S / "components" / "monitoring" / "prometheusrule.yaml"
ADAPTER = K8S / "monitoring" / "prometheus-adapter-values.yaml"
SEVERITIES = {"critical", "warning"}
TRITON = 'namespace="cmr-clip",pod="triton-a",model="cmr_video_encoder",version="1"'


def groups() -> list[dict[str, Any]]:
    return list(yaml.safe_load(RULES.read_text())["spec"]["groups"])


def rules() -> list[dict[str, Any]]:
    return [rule for group in groups() for rule in group["rules"]]


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    """The PrometheusRule's spec.groups as a Prometheus rules file."""
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups()}))
    return path


def test_rules_are_well_formed() -> None:
    """The schema check that holds without promtool."""
    names = [group["name"] for group in groups()]
    assert len(names) == len(set(names))
    alerts = {}
    for rule in rules():
        assert ("record" in rule) != ("alert" in rule), rule
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        if "record" in rule:
            assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+(:[a-z0-9_]+)?", rule["record"])
            continue
        alerts[rule["alert"]] = rule
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["labels"]["severity"] in SEVERITIES
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert {"CmrGatewayErrorRateHigh", "CmrGatewayLatencyP95High", "CmrTritonQueueTimeHigh"} <= (
        set(alerts)
    )
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    adapter_series = [r["seriesQuery"].split("{")[0] for r in adapter_rules()]
    assert "cmr:triton_queue_to_compute_ratio" in adapter_series
    assert {s for s in adapter_series if ":" in s} <= recorded


def test_promtool_accepts_the_rules(rules_file: Path) -> None:
    done = run_tool("promtool", "check", "rules", rules_file)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def adapter_rules() -> list[dict[str, Any]]:
    return list(yaml.safe_load(ADAPTER.read_text())["rules"]["custom"])


def test_prometheus_adapter_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each metricsQuery with its template filled in as the adapter would."""
    checks = []
    for number, rule in enumerate(adapter_rules()):
        series = rule["seriesQuery"].split("{")[0]
        assert re.fullmatch(rule["name"]["matches"], series)
        query = (
            rule["metricsQuery"]
            .replace("<<.Series>>", series)
            .replace("<<.LabelMatchers>>", 'namespace="cmr-clip",pod=~"a|b"')
            .replace("<<.GroupBy>>", "pod")
        )
        checks.append({"record": f"adapter:check:{number}", "expr": query})
    path = tmp_path / "adapter.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "adapter", "rules": checks}]}))
    done = run_tool("promtool", "check", "rules", path)
    assert done.returncode == 0, done.stdout + done.stderr


def annotations(alert: str, **values: str) -> dict[str, str]:
    """The alert's annotations with their templates filled in from `values`."""
    (rule,) = [r for r in rules() if r.get("alert") == alert]
    filled = {}
    for key, template in rule["annotations"].items():
        for pattern, value in values.items():
            template = re.sub(r"\{\{ \$" + pattern + r"[^}]*\}\}", value, template)
        assert "{{" not in template, template
        filled[key] = template
    return filled


def test_rules_behave_as_intended(tmp_path: Path, rules_file: Path) -> None:
    """Queue 0.5 s per 1 s of compute -> ratio 0.5 (the HPA target); 200 ms queued per request
    -> CmrTritonQueueTimeHigh; 1 in 10 API requests failing -> CmrGatewayErrorRateHigh, while the
    503s of /readyz probes do not count."""
    api = 'cmr_http_requests_total{namespace="cmr-clip",route="%s",status="%s"}'
    series = [
        (f"nv_inference_queue_duration_us{{{TRITON}}}", "0+6000000x60"),
        (f"nv_inference_compute_infer_duration_us{{{TRITON}}}", "0+12000000x60"),
        (f"nv_inference_request_success{{{TRITON}}}", "0+30x60"),
        (api % ("/v1/diagnose", "200"), "0+270x60"),
        (api % ("/v1/diagnose", "500"), "0+30x60"),
        (api % ("/readyz", "503"), "0+3000x60"),
    ]
    queue_labels = {"namespace": "cmr-clip", "model": "cmr_video_encoder", "severity": "warning"}
    error_labels = {"namespace": "cmr-clip", "severity": "critical"}
    unit = {
        "rule_files": [rules_file.name],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "promql_expr_test": [
                    {
                        "expr": "cmr:triton_queue_to_compute_ratio",
                        "eval_time": "10m",
                        "exp_samples": [
                            {
                                "labels": 'cmr:triton_queue_to_compute_ratio{namespace="cmr-clip",'
                                'pod="triton-a"}',
                                "value": 0.5,
                            }
                        ],
                    }
                ],
                "alert_rule_test": [
                    {
                        "alertname": "CmrTritonQueueTimeHigh",
                        "eval_time": "20m",
                        "exp_alerts": [
                            {
                                "exp_labels": queue_labels,
                                "exp_annotations": annotations(
                                    "CmrTritonQueueTimeHigh",
                                    value="200ms",
                                    labels=queue_labels["model"],
                                ),
                            }
                        ],
                    },
                    {
                        "alertname": "CmrGatewayErrorRateHigh",
                        "eval_time": "20m",
                        "exp_alerts": [
                            {
                                "exp_labels": error_labels,
                                "exp_annotations": annotations(
                                    "CmrGatewayErrorRateHigh", value="10%", labels="cmr-clip"
                                ),
                            }
                        ],
                    },
                    {"alertname": "CmrGatewayLatencyP95High", "eval_time": "20m", "exp_alerts": []},
                ],
            }
        ],
    }
    path = tmp_path / "unit.yaml"
    path.write_text(yaml.safe_dump(unit))
    done = run_tool("promtool", "test", "rules", path.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
