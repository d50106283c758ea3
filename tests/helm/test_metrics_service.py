"""The optional metrics endpoint: the Service, the container port and the operator's args."""

from __future__ import annotations

from typing import Any

import helm_python
from chart_manifests import ci_values, objects_of_kind, only_object, render_objects
from test_deployment import operator_container, parse_operator_args

ENABLED = {"metrics": {"enabled": True}}


def metrics_services(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [service for service in objects_of_kind(objects, "Service")
            if service["metadata"]["name"].endswith("-metrics")]


def container_ports(container: dict[str, Any]) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container["ports"]}


def test_disabled_by_default(chart: helm_python.Chart) -> None:
    objects = render_objects(chart)
    container = operator_container(chart)

    assert metrics_services(objects) == []
    assert "metrics" not in container_ports(container)
    assert not [arg for arg in container["args"] if arg.startswith("--metrics")]


def test_enabled_renders_service(chart: helm_python.Chart) -> None:
    services = metrics_services(render_objects(chart, ENABLED))

    assert [service["metadata"]["name"] for service in services] == ["kiln-metrics"]
    assert services[0]["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_service_selects_operator_pod(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, ENABLED)
    selector = metrics_services(objects)[0]["spec"]["selector"]
    pod_labels = only_object(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]

    assert selector.items() <= pod_labels.items()


def test_enabled_adds_container_port(chart: helm_python.Chart) -> None:
    container = operator_container(chart, ENABLED)

    assert container_ports(container) == {"health": 8080, "metrics": 9090}
    assert "--metrics-port=9090" in container["args"]
    assert "--metrics-address=0.0.0.0" in container["args"]


def test_port_moves_together(chart: helm_python.Chart) -> None:
    values = {"metrics": {"enabled": True, "port": 9102}}
    objects = render_objects(chart, values)
    container = operator_container(chart, values)

    assert metrics_services(objects)[0]["spec"]["ports"][0]["port"] == 9102
    assert container_ports(container)["metrics"] == 9102
    assert "--metrics-port=9102" in container["args"]


def test_kiln_operator_accepts_metrics_args(chart: helm_python.Chart) -> None:
    parsed = parse_operator_args(operator_container(chart, ENABLED)["args"])

    assert parsed.metrics_port == 9090
    assert parsed.metrics_address == "0.0.0.0"


def test_all_features_example_enables_metrics(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, ci_values("all-features-values.yaml"))

    assert len(metrics_services(objects)) == 1
