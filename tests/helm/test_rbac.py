"""The chart's RBAC rules grant exactly the API permissions the operator uses.

`operator_api_requests` (from tests/emulator) runs the operator against the API emulator
through each of its behaviours and returns every request the operator sent, each with its
RBAC verb, API group, resource and subresource. The rendered rules must allow each of those
requests, and grant no (apiGroup, resource, verb) that none of them used.
"""

from __future__ import annotations

from typing import Any

import helm_python
from chart_manifests import ci_values, objects_of_kind, only_object, render_objects
from emulator.request_log import ApiRequest, rbac_needs
from kubernetes_rbac import Permission, granted_permissions, rules_allow


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
