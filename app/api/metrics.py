"""Prometheus metrics of one gateway process (one uvicorn worker per pod, so counts are exact).

Labels hold routes (templates, never raw paths), methods, statuses, stages, error kinds and the
model's name/version: nothing a patient could be identified by.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_UPLOAD_BUCKETS_BYTES = tuple(float(2**k) for k in range(16, 31, 2))  # 64 KiB .. 1 GiB


class GatewayMetrics:
    """All metrics in a registry of their own (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cmr_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cmr_http_request_duration_seconds",
            "Request latency by route template",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.stage_latency = Histogram(
            "cmr_stage_duration_seconds",
            "Latency of each step of the inference path",
            ["stage"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.errors = Counter(
            "cmr_errors",
            "Error responses by machine-readable code",
            ["code"],
            registry=self.registry,
        )
        self.backend_errors = Counter(
            "cmr_backend_errors",
            "Encoder backend failures by kind",
            ["backend", "kind"],
            registry=self.registry,
        )
        self.upload_bytes = Histogram(
            "cmr_upload_bytes",
            "Size of request bodies with studies",
            ["route"],
            buckets=_UPLOAD_BUCKETS_BYTES,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "cmr_http_requests_in_flight",
            "Requests being served now",
            registry=self.registry,
        )
        self.inference_slots_busy = Gauge(
            "cmr_inference_slots_busy",
            "Studies being decoded or encoded now",
            registry=self.registry,
        )
        self.inference_slots = Gauge(
            "cmr_inference_slots",
            "Studies that may be decoded or encoded at once",
            registry=self.registry,
        )
        self.model_info = Gauge(
            "cmr_model_info",
            "The model this process serves (value 1)",
            ["name", "version", "sha256", "backend"],
            registry=self.registry,
        )

    def observe_stages(self, timings_ms: dict[str, float]) -> None:
        for stage, milliseconds in timings_ms.items():
            self.stage_latency.labels(stage=stage).observe(milliseconds / 1000)
