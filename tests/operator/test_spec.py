"""Quantities, spec parsing and probe overrides: every invalid value names its field."""

from __future__ import annotations

from typing import Any

import pytest

from kiln_operator.overrides import apply_overrides
from kiln_operator.quantity import QuantityError, format_bytes, parse_bytes
from kiln_operator.spec import InvalidSpec, parse_spec
from kiln_operator.tuning import GIB, tune


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param("70Gi", 70 * GIB, id="binary"),
    pytest.param("2G", 2 * 10**9, id="decimal"),
    pytest.param("1.5Gi", 3 * GIB // 2, id="fraction"),
    pytest.param(90868376, 90868376, id="integer"),
    pytest.param("90868376", 90868376, id="digits"),
])
def test_parse_bytes_accepts_quantities(value: int | str, expected: int) -> None:
    assert parse_bytes(value, field="size") == expected


@pytest.mark.parametrize("value", [
    pytest.param("0", id="zero"),
    pytest.param("1m", id="milli"),
    pytest.param("1.5", id="fractional-byte"),
    pytest.param("-1Gi", id="negative"),
    pytest.param("seventy", id="word"),
    pytest.param(True, id="boolean"),
    pytest.param(None, id="missing"),
])
def test_parse_bytes_rejects_nonsense(value: Any) -> None:
    with pytest.raises(QuantityError, match="^size: "):
        parse_bytes(value, field="size")


@pytest.mark.parametrize(("size", "text"), [
    pytest.param(70 * GIB, "70Gi", id="gibibytes"),
    pytest.param(512 * 2**20, "512Mi", id="mebibytes"),
    pytest.param(90868376, "86.7Mi", id="inexact"),
    pytest.param(100, "100", id="bytes"),
])
def test_format_bytes_prints_binary_units(size: int, text: str) -> None:
    assert format_bytes(size) == text


def spec(**fields: Any) -> dict[str, Any]:
    return {"image": "kiln:1", "model": {"size": "1Gi"}, **fields}


@pytest.mark.parametrize(("fields", "path"), [
    pytest.param({"image": ""}, "spec.image", id="empty-image"),
    pytest.param({"model": {"size": "0"}}, "spec.model.size", id="zero-size"),
    pytest.param({"model": {}}, "spec.model.size", id="missing-size"),
    pytest.param({"model": {"size": "1Gi", "loadThroughput": "1m"}}, "spec.model.loadThroughput",
                 id="milli-throughput"),
    pytest.param({"replicas": -1}, "spec.replicas", id="negative-replicas"),
    pytest.param({"device": {"type": "tpu"}}, "spec.device.type", id="unknown-device"),
    pytest.param({"device": {"type": "gpu"}, "workers": 2}, "spec.workers", id="gpu-workers"),
    pytest.param({"backend": {"url": "http://b:8080"}}, "spec.backend", id="model-and-backend"),
    pytest.param({"env": [{"name": "KILN_LOAD_TIMEOUT", "value": "1"}]}, "spec.env[0].name",
                 id="managed-env"),
    pytest.param({"jobs": {"store": "redis"}}, "spec.jobs.redisUrlSecretRef", id="redis-secret"),
    pytest.param({"replicas": 2, "jobs": {"volumeSize": "1Gi"}}, "spec.replicas",
                 id="shared-sqlite"),
    pytest.param({"workers": 2, "jobs": {"volumeSize": "1Gi"}}, "spec.workers",
                 id="sqlite-workers"),
    pytest.param({"jobs": {"storageClassName": "fast"}}, "spec.jobs.storageClassName",
                 id="storage-class-without-volume"),
    pytest.param({"jobs": {"volumeSize": "0"}}, "spec.jobs.volumeSize", id="zero-volume"),
    pytest.param({"env": [{"name": "KILN_REDIS_KEY_PREFIX", "value": "x"}]}, "spec.env[0].name",
                 id="managed-redis-prefix"),
    pytest.param({"env": [{"name": "KILN_ADAPTERS_DIR", "value": "/a"}]}, "spec.env[0].name",
                 id="managed-adapters-dir"),
    pytest.param({"adapters": {}}, "spec.adapters.path", id="adapters-without-path"),
    pytest.param({"adapters": {"path": "adapters"}}, "spec.adapters.path",
                 id="relative-adapters-path"),
    pytest.param({"adapters": {"path": "/opt/../etc"}}, "spec.adapters.path",
                 id="dotted-adapters-path"),
    pytest.param({"adapters": {"path": "/tmp/adapters"}}, "spec.adapters.path",
                 id="adapters-in-tmp"),
    pytest.param({"adapters": {"path": "/opt/kiln", "persistentVolumeClaim": {"claimName": "a"}}},
                 "spec.adapters.path", id="claim-hides-model"),
    pytest.param({"adapters": {"path": "/usr/lib/a", "persistentVolumeClaim": {"claimName": "a"}}},
                 "spec.adapters.path", id="claim-inside-usr"),
    pytest.param({"adapters": {"path": "/adapters", "persistentVolumeClaim": {}}},
                 "spec.adapters.persistentVolumeClaim.claimName", id="claim-without-name"),
    pytest.param({"adapters": {"path": "/adapters", "cacheBytes": "0"}},
                 "spec.adapters.cacheBytes", id="zero-cache-bytes"),
    pytest.param({"adapters": {"path": "/adapters", "cacheCount": 0}},
                 "spec.adapters.cacheCount", id="zero-cache-count"),
    pytest.param({"probes": {"startup": {"periodSeconds": 0}}}, "spec.probes.startup.periodSeconds",
                 id="zero-period"),
])
def test_invalid_spec_names_field(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(spec(**fields))

    assert str(caught.value).startswith(path)


def test_jobs_off_without_section() -> None:
    parsed = parse_spec(spec(timing={"queueDrainSeconds": 60}))

    assert parsed.jobs is None
    assert parsed.tuning_inputs.jobs is False


def test_empty_jobs_section_is_sqlite() -> None:
    parsed = parse_spec(spec(jobs={}))

    assert parsed.jobs is not None
    assert parsed.jobs.store == "sqlite"
    assert parsed.jobs.pod_local
    assert parsed.tuning_inputs.jobs is True


def test_emptydir_sqlite_allows_replicas() -> None:
    parsed = parse_spec(spec(replicas=3, jobs={}))

    assert parsed.jobs is not None
    assert parsed.jobs.pod_local
    assert parsed.replicas == 3


def test_redis_jobs_allow_replicas_and_workers() -> None:
    parsed = parse_spec(spec(replicas=3, workers=4, jobs={
        "store": "redis", "redisUrlSecretRef": {"name": "redis", "key": "url"}}))

    assert parsed.jobs is not None
    assert parsed.jobs.store == "redis"
    assert parsed.workers == 4


def test_adapters_default_cache_limits() -> None:
    parsed = parse_spec(spec(adapters={"path": "/opt/kiln/adapters"}))

    assert parsed.adapters is not None
    assert parsed.adapters.cache_bytes == 256 * 2**20
    assert parsed.adapters.cache_count == 64
    assert parsed.adapters.claim_name is None


def test_adapters_cache_bytes_quantity() -> None:
    parsed = parse_spec(spec(adapters={"path": "/adapters", "cacheBytes": "1.5Gi",
                                       "persistentVolumeClaim": {"claimName": "tenants"}}))

    assert parsed.adapters is not None
    assert parsed.adapters.cache_bytes == 3 * GIB // 2
    assert parsed.adapters.claim_name == "tenants"


def test_gateway_spec_has_no_weights() -> None:
    parsed = parse_spec({"image": "kiln:1", "backend": {"url": "http://tei:8080"}})

    assert parsed.gateway
    assert parsed.weight_bytes == 0
    assert parsed.tuning_inputs.gateway


def test_override_wins_over_computed_value() -> None:
    parsed = parse_spec(spec(probes={"startup": {"failureThreshold": 100}}))
    computed = tune(parsed.tuning_inputs)

    effective, overridden = apply_overrides(computed, parsed.probe_overrides, None)

    assert effective.startup.failure_threshold == 100
    assert effective.startup.period_seconds == computed.startup.period_seconds
    assert overridden == ["startupProbe.failureThreshold"]
    assert effective.server.load_timeout_seconds < effective.startup_budget_seconds
    assert effective.server.load_timeout_seconds > computed.server.load_timeout_seconds


def test_short_grace_override_is_invalid() -> None:
    parsed = parse_spec(spec(probes={"terminationGracePeriodSeconds": 10}))

    with pytest.raises(InvalidSpec, match="^spec.probes.terminationGracePeriodSeconds: 10 s"):
        apply_overrides(tune(parsed.tuning_inputs), parsed.probe_overrides, parsed.grace_override)


def test_long_grace_override_is_used() -> None:
    parsed = parse_spec(spec(probes={"terminationGracePeriodSeconds": 600}))

    effective, overridden = apply_overrides(tune(parsed.tuning_inputs), parsed.probe_overrides,
                                            parsed.grace_override)

    assert effective.termination_grace_period_seconds == 600
    assert overridden == ["terminationGracePeriodSeconds"]
