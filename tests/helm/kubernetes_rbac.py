"""Kubernetes RBAC authorization of API requests, for checking the chart's rules.

`request_attributes` turns an HTTP request into the attributes RBAC decides on, following the
API server's request-info parsing (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go):
the verb comes from the method, the name and the `watch` query parameter; a path under
`/namespaces/NS/` is namespaced; a third segment after the resource is a subresource. As in the
API server, a request on the Namespace object NAME counts as being in namespace NAME.
`rules_allow` is the RBAC authorizer's rule match for one Role's or ClusterRole's rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Subresources of a Namespace object: /api/v1/namespaces/NAME/status is the Namespace's status,
# not a resource called "status" inside namespace NAME.
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

VERBS_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class RequestAttributes:
    """What RBAC authorizes for one resource request."""

    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str

    @property
    def resource_path(self) -> str:
        """The resource as RBAC rules spell it: "resource" or "resource/subresource"."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def request_attributes(method: str, path: str, *, watch: bool) -> RequestAttributes | None:
    """Return the RBAC attributes of a request, or None for a non-resource URL (discovery)."""
    parts = [part for part in path.split("?")[0].split("/") if part]
    if parts[:2] == ["api", "v1"]:
        api_group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        api_group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None

    # The deprecated /watch/ path prefix makes any GET a watch, named or not.
    watch_prefix = rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]

    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]

    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""

    return RequestAttributes(
        verb="watch" if watch_prefix else _verb(method.upper(), named=bool(name), watch=watch),
        api_group=api_group,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def _verb(method: str, *, named: bool, watch: bool) -> str:
    # Like the API server, a named GET stays "get" even with ?watch=true.
    if method == "GET":
        if named:
            return "get"
        return "watch" if watch else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    try:
        return VERBS_BY_METHOD[method]
    except KeyError:
        raise ValueError(f"HTTP method {method!r} has no RBAC verb in this model.") from None


def rule_allows(rule: Mapping[str, Any], request: RequestAttributes) -> bool:
    """Return whether one PolicyRule allows the request (RBAC's ruleAllows)."""
    if "nonResourceURLs" in rule:
        return False
    verbs = rule.get("verbs", [])
    groups = rule.get("apiGroups", [])
    resources = rule.get("resources", [])
    names = rule.get("resourceNames", [])
    return (
        ("*" in verbs or request.verb in verbs)
        and ("*" in groups or request.api_group in groups)
        and ("*" in resources or request.resource_path in resources)
        and (not names or request.name in names)
    )


def rules_allow(rules: Iterable[Mapping[str, Any]], request: RequestAttributes) -> bool:
    """Return whether any of the rules allows the request."""
    return any(rule_allows(rule, request) for rule in rules)


def granted_permissions(rules: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """Expand rules into (apiGroup, resource, verb) triples; wildcards stay as "*"."""
    granted = set()
    for rule in rules:
        for api_group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    granted.add((api_group, resource, verb))
    return granted
