"""The RBAC authorizer's rule matching, for checking the chart's rules against API requests.

A request is allowed when one PolicyRule lists its API group, its resource (spelled
"plural/subresource" for a subresource) and its verb, or "*" for any of them. The chart's
rules use no resourceNames, so a rule that has them matches nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Permission = tuple[str, str, str]  # (apiGroup, resource, verb)


def rule_allows(rule: Mapping[str, Any], permission: Permission) -> bool:
    """Return whether one PolicyRule grants (apiGroup, resource, verb)."""
    api_group, resource, verb = permission
    if "nonResourceURLs" in rule or rule.get("resourceNames"):
        return False
    verbs = rule.get("verbs", [])
    groups = rule.get("apiGroups", [])
    resources = rule.get("resources", [])
    return (
        ("*" in verbs or verb in verbs)
        and ("*" in groups or api_group in groups)
        and ("*" in resources or resource in resources)
    )


def rules_allow(rules: Iterable[Mapping[str, Any]], permission: Permission) -> bool:
    """Return whether any of the rules grants the permission."""
    return any(rule_allows(rule, permission) for rule in rules)


def granted_permissions(rules: Iterable[Mapping[str, Any]]) -> set[Permission]:
    """Expand rules into (apiGroup, resource, verb) triples; wildcards stay as "*"."""
    granted = set()
    for rule in rules:
        for api_group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    granted.add((api_group, resource, verb))
    return granted
