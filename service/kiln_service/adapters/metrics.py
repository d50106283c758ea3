"""Prometheus metrics of the adapter cache, registered in the server's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LOAD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class AdapterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.hits = Counter(
            "kiln_adapter_cache_hits",
            "Adapter requests that found the adapter resident.",
            registry=registry,
        )
        self.misses = Counter(
            "kiln_adapter_cache_misses",
            "Adapter requests that found the adapter not resident and started or joined a load.",
            registry=registry,
        )
        self.evictions = Counter(
            "kiln_adapter_cache_evictions",
            "Adapters evicted and released to make room for another.",
            registry=registry,
        )
        self.loads = Counter(
            "kiln_adapter_loads",
            "Adapter loads, by result: loaded, not_found, invalid, cancelled or error.",
            ["result"],
            registry=registry,
        )
        self.loads_in_progress = Gauge(
            "kiln_adapter_loads_in_progress",
            "Adapter loads running or waiting for room in the cache.",
            registry=registry,
        )
        self.load_seconds = Histogram(
            "kiln_adapter_load_duration_seconds",
            "Seconds to check, read and verify one adapter, for successful loads.",
            buckets=LOAD_BUCKETS,
            registry=registry,
        )
        self.cached_bytes = Gauge(
            "kiln_adapter_cache_bytes",
            "Bytes of adapter tensors resident in the cache.",
            registry=registry,
        )
        self.cached_adapters = Gauge(
            "kiln_adapter_cache_adapters",
            "Adapters resident in the cache.",
            registry=registry,
        )
        self.limit_bytes = Gauge(
            "kiln_adapter_cache_limit_bytes",
            "Maximum bytes of adapter tensors the cache holds (KILN_ADAPTER_CACHE_BYTES).",
            registry=registry,
        )
        self.limit_adapters = Gauge(
            "kiln_adapter_cache_limit_adapters",
            "Maximum number of adapters the cache holds (KILN_ADAPTER_CACHE_COUNT).",
            registry=registry,
        )
