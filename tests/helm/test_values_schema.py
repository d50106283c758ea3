"""values.schema.json: Helm rejects bad values with its own error before rendering anything."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest
from chart_manifests import ci_values, ci_values_files, render

HELM_SCHEMA_ERROR = "values don't meet the specifications of the schema(s)"

REJECTED = [
    pytest.param(
        {"replicas": -1}, "at '/replicas': minimum: got -1, want 0", id="negative-replicas"
    ),
    pytest.param({"replicas": 2}, "at '/replicas': maximum: got 2, want 1", id="two-replicas"),
    pytest.param(
        {"replicas": "1"}, "at '/replicas': got string, want integer", id="replicas-string"
    ),
    pytest.param(
        {"replicaCount": 1},
        "at '': additional properties 'replicaCount' not allowed",
        id="unknown-top-level-key",
    ),
    pytest.param(
        {"watchNamespaces": "team-a"},
        "at '/watchNamespaces': got string, want array",
        id="watch-namespaces-string",
    ),
    pytest.param(
        {"watchNamespaces": ["Team_A"]},
        "at '/watchNamespaces/0': 'Team_A' does not match pattern",
        id="watch-namespace-invalid-name",
    ),
    pytest.param(
        {"watchNamespaces": ["team-a", "team-a"]},
        "at '/watchNamespaces': items at 0 and 1 are equal",
        id="watch-namespace-twice",
    ),
    pytest.param({"image": {"tag": "latest"}}, "at '/image/tag': 'not' failed", id="latest-tag"),
    pytest.param(
        {"image": {"digest": "sha256:abc"}},
        "at '/image/digest': 'sha256:abc' does not match pattern",
        id="short-digest",
    ),
    pytest.param(
        {"image": {"pullPolicy": "Sometimes"}},
        "at '/image/pullPolicy': value must be one of",
        id="unknown-pull-policy",
    ),
    pytest.param(
        {"rbac": {"create": "yes"}}, "at '/rbac/create': got string, want boolean", id="rbac-string"
    ),
    pytest.param({"healthPort": 0}, "at '/healthPort': minimum: got 0, want 1", id="port-zero"),
    pytest.param(
        {"metrics": {"enabled": "true"}},
        "at '/metrics/enabled': got string, want boolean",
        id="metrics-enabled-string",
    ),
    pytest.param(
        {"metrics": {"port": 70000}},
        "at '/metrics/port': maximum: got 70,000, want 65,535",
        id="metrics-port-too-high",
    ),
    pytest.param(
        {"metrics": {"serviceMonitor": {"enabled": True}}},
        "at '/metrics': additional properties 'serviceMonitor' not allowed",
        id="metrics-unknown-key",
    ),
    pytest.param(
        {"logFormat": "xml"}, "at '/logFormat': value must be one of", id="unknown-log-format"
    ),
    pytest.param(
        {"modelServices": [{"name": "minilm"}]},
        "at '/modelServices/0': missing property 'spec'",
        id="model-service-without-spec",
    ),
    pytest.param(
        {"modelServices": [{"name": "minilm", "spec": {}, "kind": "ModelService"}]},
        "at '/modelServices/0': additional properties 'kind' not allowed",
        id="model-service-unknown-key",
    ),
    pytest.param(
        {"modelServices": [{"name": "MiniLM", "spec": {}}]},
        "at '/modelServices/0/name': 'MiniLM' does not match pattern",
        id="model-service-invalid-name",
    ),
]


@pytest.mark.parametrize(("values", "expected"), REJECTED)
def test_schema_rejects(chart: helm_python.Chart, values: dict[str, Any], expected: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as raised:
        render(chart, values)

    assert HELM_SCHEMA_ERROR in str(raised.value)
    assert expected in str(raised.value)


def test_schema_accepts_defaults(chart: helm_python.Chart) -> None:
    chart.validate_schema(chart.values)


@pytest.mark.parametrize("file_name", [pytest.param(name, id=name) for name in ci_values_files()])
def test_schema_accepts_example(chart: helm_python.Chart, file_name: str) -> None:
    chart.validate_schema(chart.merge_values(ci_values(file_name)))
