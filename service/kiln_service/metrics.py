"""Prometheus metrics of one server process, kept in a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram

from kiln_service.lifecycle import Phase

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.state = Enum(
            "kiln_state",
            "Lifecycle state of the server.",
            states=[phase.value for phase in Phase],
            registry=self.registry,
        )
        self.load_seconds = Gauge(
            "kiln_load_duration_seconds",
            "Seconds from load start to weights resident.",
            registry=self.registry,
        )
        self.load_bytes = Gauge(
            "kiln_load_bytes", "Bytes of model files read during the load.", registry=self.registry
        )
        self.inflight = Gauge(
            "kiln_inflight_requests", "Inference requests being handled.", registry=self.registry
        )
        self.latency = Histogram(
            "kiln_request_duration_seconds",
            "Latency of inference requests, by route and status code.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejections = Counter(
            "kiln_rejections",
            "Requests rejected before inference, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "kiln_batch_size",
            "Inputs per forward pass.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
