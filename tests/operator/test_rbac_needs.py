"""The permissions the operator exercises: the least privilege the chart's RBAC must grant.

If the operator starts using another verb or resource, this test fails and the chart's
RBAC rules (and this list) must be updated together.
"""

from __future__ import annotations

from emulator.fixtures import operator_api_requests  # noqa: F401 - fixture used by name
from emulator.request_log import ApiRequest, RbacNeed, rbac_needs

NAMESPACED = {
    ("", "events", "create"),
    ("", "persistentvolumeclaims", "create"),
    ("", "persistentvolumeclaims", "get"),
    ("", "services", "create"),
    ("", "services", "get"),
    ("", "services", "patch"),
    ("apps", "deployments", "create"),
    ("apps", "deployments", "get"),
    ("apps", "deployments", "patch"),
    ("kiln.dev", "modelservices", "get"),
    ("kiln.dev", "modelservices", "patch"),
    ("kiln.dev", "modelservices/status", "patch"),
    ("policy", "poddisruptionbudgets", "create"),
    ("policy", "poddisruptionbudgets", "delete"),
    ("policy", "poddisruptionbudgets", "get"),
    ("policy", "poddisruptionbudgets", "patch"),
}
# Watching every namespace lists and watches these across the cluster.
CLUSTER_WIDE = {
    ("", "pods", "list"),
    ("", "pods", "watch"),
    ("apps", "deployments", "list"),
    ("apps", "deployments", "watch"),
    ("kiln.dev", "modelservices", "list"),
    ("kiln.dev", "modelservices", "watch"),
}


def test_operator_needs_exactly_these(operator_api_requests: list[ApiRequest]) -> None:  # noqa: F811
    needs = rbac_needs(operator_api_requests)

    expected = {RbacNeed(group, resource, verb, False) for group, resource, verb in NAMESPACED}
    expected |= {RbacNeed(group, resource, verb, True) for group, resource, verb in CLUSTER_WIDE}
    assert needs == expected


def test_operator_never_reads_secrets(operator_api_requests: list[ApiRequest]) -> None:  # noqa: F811
    assert not [request for request in operator_api_requests if request.resource == "secrets"]


def test_operator_never_touches_other_namespaces(
    operator_api_requests: list[ApiRequest],  # noqa: F811
) -> None:
    namespaces = {request.namespace for request in operator_api_requests}

    assert namespaces == {None, "kiln-scenario"}
