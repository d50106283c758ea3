"""The chart's RBAC rules grant exactly the API permissions the operator uses.

`operator_api_requests` (from tests/emulator) runs the operator, watching every namespace,
against the API emulator through each of its behaviours and returns every request the operator
sent, each with its RBAC verb, API group, resource and subresource. The ClusterRole must allow
each of those requests and grant no (apiGroup, resource, verb) that none of them used.

With `watchNamespaces` the same rules go into one Role per namespace. A second, shorter run
starts the operator with `--namespace team-a` and checks that it sends no cluster-wide request,
so that Roles suffice, and that the Role in team-a allows every request it sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import helm_python
import pytest
import yaml
from chart_manifests import (
    REPOSITORY_ROOT,
    ci_values,
    objects_of_kind,
    only_object,
    render_objects,
)
from emulator.client import KubeRest, resource_path
from emulator.fixtures import ADMIN_TOKEN, OPERATOR_TOKEN, OPERATOR_USER, start_emulator
from emulator.operator_thread import OperatorThread, wait_for
from emulator.request_log import ApiRequest, rbac_needs
from kubernetes_rbac import Permission, granted_permissions, rules_allow

WATCHED_NAMESPACE = "team-a"


def used_permissions(requests: list[ApiRequest]) -> set[Permission]:
    return {(need.api_group, need.resource, need.verb) for need in rbac_needs(requests)}


def cluster_role_rules(chart: helm_python.Chart) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = only_object(render_objects(chart), "ClusterRole")["rules"]
    return rules


def test_scenario_recorded_requests(operator_api_requests: list[ApiRequest]) -> None:
    used = used_permissions(operator_api_requests)

    assert ("kiln.dev", "modelservices", "watch") in used
    assert ("apps", "deployments", "create") in used


def test_cluster_role_allows_requests(
    chart: helm_python.Chart, operator_api_requests: list[ApiRequest]
) -> None:
    rules = cluster_role_rules(chart)
    denied = sorted(
        permission
        for permission in used_permissions(operator_api_requests)
        if not rules_allow(rules, permission)
    )

    assert denied == []


def test_cluster_role_grants_only_used(
    chart: helm_python.Chart, operator_api_requests: list[ApiRequest]
) -> None:
    granted = granted_permissions(cluster_role_rules(chart))
    unused = sorted(granted - used_permissions(operator_api_requests))

    assert unused == []


def test_rules_have_no_wildcards(chart: helm_python.Chart) -> None:
    for group, resource, verb in granted_permissions(cluster_role_rules(chart)):
        assert "*" not in (group, resource, verb)


def test_roles_repeat_cluster_rules(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, ci_values("watch-namespaces-values.yaml"))
    roles = objects_of_kind(objects, "Role")

    assert roles
    for role in roles:
        assert role["rules"] == cluster_role_rules(chart)


def in_watched_namespace(kind: str, name: str | None = None, *, group: str = "") -> str:
    version = {"kiln.dev": "v1alpha1"}.get(group, "v1")
    path: str = resource_path(group, version, kind, WATCHED_NAMESPACE, name)
    return path


@pytest.fixture(scope="module")
def namespaced_operator_requests(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[ApiRequest]]:
    """Run the operator for one namespace until it built the children of a two-replica
    ModelService (a PodDisruptionBudget among them) and wrote its status; return its requests."""
    folder = tmp_path_factory.mktemp("namespaced-operator")
    emulator = start_emulator()
    kubeconfig = emulator.write_kubeconfig(folder / "operator.kubeconfig", OPERATOR_TOKEN)
    operator = OperatorThread(kubeconfig, namespaces=(WATCHED_NAMESPACE,)).start()
    try:
        api = KubeRest(emulator.url, ADMIN_TOKEN)
        example = yaml.safe_load((REPOSITORY_ROOT / "examples" / "minilm.yaml").read_text())
        # Two replicas add a PodDisruptionBudget; SQLite jobs on a volume allow only one.
        example["spec"]["replicas"] = 2
        example["spec"]["jobs"] = {"store": "sqlite"}
        name = example["metadata"]["name"]
        api.create(in_watched_namespace("modelservices", group="kiln.dev"), example)

        budget = in_watched_namespace("poddisruptionbudgets", name, group="policy")
        wait_for(lambda: api.exists(budget), message=f"the budget {budget}")
        model_service = in_watched_namespace("modelservices", name, group="kiln.dev")
        wait_for(
            lambda: api.get(model_service).get("status", {}).get("phase"),
            message=f"the status of {model_service}",
        )
        yield emulator.requests(user=OPERATOR_USER)
    finally:
        operator.stop()
        emulator.stop()


def test_namespaced_operator_stays_inside(namespaced_operator_requests: list[ApiRequest]) -> None:
    resource_requests = [request for request in namespaced_operator_requests if request.resource]

    assert resource_requests
    assert {request.namespace for request in resource_requests} == {WATCHED_NAMESPACE}


def test_role_allows_namespaced_requests(
    chart: helm_python.Chart, namespaced_operator_requests: list[ApiRequest]
) -> None:
    values = {"watchNamespaces": [WATCHED_NAMESPACE]}
    rules = only_object(render_objects(chart, values), "Role")["rules"]
    denied = sorted(
        permission
        for permission in used_permissions(namespaced_operator_requests)
        if not rules_allow(rules, permission)
    )

    assert denied == []
