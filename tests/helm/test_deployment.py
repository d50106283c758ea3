"""The operator Deployment: image, arguments, probes, hardening and the single active replica."""

from __future__ import annotations

import argparse
from typing import Any

import helm_python
import pytest
from chart_manifests import ci_values, only_object, render_objects

from kiln_operator.cli import add_subcommands

DIGEST = "sha256:" + "ab" * 32

# The same security contexts as the operator gives the model pods: the image's non-root user,
# no privilege escalation, no capabilities, a read-only root and the default seccomp profile.
IMAGE_USER = 10001
CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": IMAGE_USER,
    "runAsGroup": IMAGE_USER,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": IMAGE_USER,
    "runAsGroup": IMAGE_USER,
    "fsGroup": IMAGE_USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def operator_pod(chart: helm_python.Chart, values: dict[str, Any] | None = None) -> dict[str, Any]:
    deployment = only_object(render_objects(chart, values), "Deployment")
    pod: dict[str, Any] = deployment["spec"]["template"]
    return pod


def operator_container(
    chart: helm_python.Chart, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    containers = operator_pod(chart, values)["spec"]["containers"]
    assert [container["name"] for container in containers] == ["operator"]
    container: dict[str, Any] = containers[0]
    return container


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param({}, "kiln-operator:{app_version}", id="app-version"),
        pytest.param({"tag": "0.2.0"}, "kiln-operator:0.2.0", id="tag"),
        pytest.param({"tag": "0.2.0", "digest": DIGEST}, f"kiln-operator@{DIGEST}", id="digest"),
        pytest.param(
            {"repository": "registry.example/kiln/operator"},
            "registry.example/kiln/operator:{app_version}",
            id="repository",
        ),
    ],
)
def test_image_pinned(chart: helm_python.Chart, image: dict[str, str], expected: str) -> None:
    container = operator_container(chart, {"image": image})

    assert container["image"] == expected.format(app_version=chart.metadata["appVersion"])


def test_single_replica_recreate(chart: helm_python.Chart) -> None:
    deployment = only_object(render_objects(chart), "Deployment")

    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_args_all_namespaces(chart: helm_python.Chart) -> None:
    args = operator_container(chart)["args"]

    assert "--all-namespaces" in args
    assert not [arg for arg in args if arg.startswith("--namespace")]


def test_args_watch_namespaces(chart: helm_python.Chart) -> None:
    args = operator_container(chart, ci_values("watch-namespaces-values.yaml"))["args"]

    assert "--all-namespaces" not in args
    assert [arg for arg in args if arg.startswith("--namespace")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]


def parse_operator_args(args: list[str]) -> argparse.Namespace:
    """Parse the container's args with the real `kiln operator` command-line parser."""
    parser = argparse.ArgumentParser(prog="kiln")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["operator", *args])


def test_kiln_operator_accepts_args(chart: helm_python.Chart) -> None:
    parsed = parse_operator_args(operator_container(chart)["args"])

    assert parsed.all_namespaces is True
    assert parsed.namespaces == []
    assert parsed.liveness == "http://0.0.0.0:8080/healthz"
    assert parsed.log_format == "text"


def test_kiln_operator_accepts_watch_args(chart: helm_python.Chart) -> None:
    values = ci_values("all-features-values.yaml")
    parsed = parse_operator_args(operator_container(chart, values)["args"])

    assert parsed.all_namespaces is False
    assert parsed.namespaces == values["watchNamespaces"]
    assert parsed.log_format == "json"


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
def test_probe_on_health_endpoint(chart: helm_python.Chart, probe: str) -> None:
    container = operator_container(chart)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert ports["health"] == 8080
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]


def test_health_port_moves_together(chart: helm_python.Chart) -> None:
    container = operator_container(chart, {"healthPort": 9443})
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert ports["health"] == 9443
    assert "--liveness=http://0.0.0.0:9443/healthz" in container["args"]


def test_container_hardened(chart: helm_python.Chart) -> None:
    assert operator_container(chart)["securityContext"] == CONTAINER_SECURITY


def test_pod_hardened(chart: helm_python.Chart) -> None:
    spec = operator_pod(chart)["spec"]

    assert spec["securityContext"] == POD_SECURITY
    assert spec["enableServiceLinks"] is False


def test_test_pod_hardened(chart: helm_python.Chart) -> None:
    test_pod = only_object(render_objects(chart), "Pod")

    assert test_pod["spec"]["securityContext"] == POD_SECURITY
    assert test_pod["spec"]["containers"][0]["securityContext"] == CONTAINER_SECURITY
    assert test_pod["spec"]["automountServiceAccountToken"] is False


def test_tmp_is_writable_volume(chart: helm_python.Chart) -> None:
    pod = operator_pod(chart)
    mounts = {
        mount["mountPath"]: mount["name"] for mount in pod["spec"]["containers"][0]["volumeMounts"]
    }
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}

    assert volumes[mounts["/tmp"]]["emptyDir"] == {}


def test_resources_requested(chart: helm_python.Chart) -> None:
    resources = operator_container(chart)["resources"]

    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def test_pod_labels_keep_selector(chart: helm_python.Chart) -> None:
    values = {"podLabels": {"app.kubernetes.io/name": "other", "team": "ml"}}
    deployment = only_object(render_objects(chart, values), "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]

    assert labels["team"] == "ml"
    assert selector.items() <= labels.items()


def test_runs_as_rendered_service_account(chart: helm_python.Chart) -> None:
    objects = render_objects(chart)
    account = only_object(objects, "ServiceAccount")
    pod = only_object(objects, "Deployment")["spec"]["template"]

    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]
