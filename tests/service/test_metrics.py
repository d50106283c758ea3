"""Prometheus metrics of a running server."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.server_process import ServerProcess


def samples(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(server.url("/metrics"), timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_state_is_ready(minilm_server: ServerProcess) -> None:
    assert samples(minilm_server)[("kiln_state", (("kiln_state", "ready"),))] == 1.0


def test_load_duration_and_bytes(minilm_server: ServerProcess) -> None:
    values = samples(minilm_server)
    assert values[("kiln_load_duration_seconds", ())] > 0
    assert values[("kiln_load_bytes", ())] > 90_000_000


def test_latency_histogram_counts_requests(minilm_server: ServerProcess) -> None:
    httpx.post(minilm_server.url("/v1/embeddings"), json={"input": "x"}, timeout=10)
    key = ("kiln_request_duration_seconds_count", (("route", "/v1/embeddings"), ("status", "200")))
    assert samples(minilm_server)[key] >= 1


def test_rejections_by_reason(minilm_server: ServerProcess) -> None:
    httpx.post(minilm_server.url("/v1/embeddings"), json={"input": []}, timeout=10)
    assert samples(minilm_server)[("kiln_rejections_total", (("reason", "invalid_input"),))] >= 1


def test_inflight_gauge_is_zero_when_idle(minilm_server: ServerProcess) -> None:
    assert samples(minilm_server)[("kiln_inflight_requests", ())] == 0


def test_latency_labels_use_route_templates(minilm_server: ServerProcess) -> None:
    httpx.post(minilm_server.url("/v1/no-such-route-1234"), json={}, timeout=10)
    routes = {dict(labels).get("route") for (name, labels) in samples(minilm_server)}
    assert "unmatched" in routes
    assert "/v1/no-such-route-1234" not in routes
