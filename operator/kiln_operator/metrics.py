"""Prometheus metrics of the operator, served on ``/metrics`` with ``kiln operator --metrics-port``.

Each operator instance has its own registry, so several operators in one process (as in the
tests) count apart. The ModelService phase gauge reflects the watched objects: the operator
records each ModelService's ``status.phase`` from its watch events and removes it on deletion.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

PHASES = ("Pending", "Progressing", "Ready", "Degraded")
# Reconcile results: the spec was applied, the spec is invalid, a child object was rejected
# as invalid (both not retried), a child's name is taken, or an API error that kopf retries.
RESULTS = ("ok", "invalid_spec", "child_rejected", "ownership_conflict", "retried_error")


class PhaseCollector(Collector):
    """The ``kiln_operator_modelservices`` gauge: watched ModelServices by ``status.phase``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phases: dict[tuple[str, str], str] = {}

    def record(self, namespace: str, name: str, phase: str | None) -> None:
        with self._lock:
            self._phases[(namespace, name)] = phase or "Pending"

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._phases.pop((namespace, name), None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            counts = Tally(self._phases.values())
        family = GaugeMetricFamily("kiln_operator_modelservices",
                                   "ModelServices the operator watches, by status phase.",
                                   labels=["phase"])
        for phase in sorted(set(PHASES) | set(counts)):
            family.add_metric([phase], counts.get(phase, 0))
        yield family


class OperatorMetrics:
    """The operator's counters, histogram and phase gauge, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "kiln_operator_reconciles", "ModelService reconciles, by result.",
            ["result"], registry=self.registry)
        for result in RESULTS:
            self.reconciles.labels(result)
        self.reconcile_seconds = Histogram(
            "kiln_operator_reconcile_duration_seconds",
            "Time to reconcile one ModelService's children, failures included.",
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.budget_raises = Counter(
            "kiln_operator_startup_budget_raises",
            "Startup budget floors raised by learning from pods, by trigger: a pod that was "
            "slow to become ready, or one that its startup probe killed.",
            ["trigger"], registry=self.registry)
        for trigger in ("slow_ready", "startup_probe_killed"):
            self.budget_raises.labels(trigger)
        self.phases = PhaseCollector()
        self.registry.register(self.phases)


class MetricsServer:
    """The ``/metrics`` HTTP server, running in a daemon thread until ``stop()``."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @classmethod
    def start(cls, metrics: OperatorMetrics, address: str, port: int) -> MetricsServer:
        """Serve ``metrics`` on ``address:port``; raise OSError when the port cannot be bound."""
        try:
            server, thread = start_http_server(port, address, registry=metrics.registry)
        except OSError as error:
            raise OSError(f"Cannot serve metrics on {address}:{port}: {error.strerror}. Pass a "
                          "free port with --metrics-port.") from error
        logger.info("Serving Prometheus metrics on http://%s:%d/metrics.", address, port)
        return cls(server, thread)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
