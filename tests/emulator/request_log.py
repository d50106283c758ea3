"""The record of every API request the emulator served, in the terms RBAC rules use.

Each request becomes one ``ApiRequest`` with the RBAC verb (``get``, ``list``, ``watch``,
``create``, ``update``, ``patch``, ``delete``), API group, resource, subresource and
namespace, plus the identity that sent it. A chart's RBAC test can then derive the exact
set of rules a client needed and compare it with the rules the chart grants.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

RBAC_VERB_BY_METHOD = {
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclasses.dataclass(frozen=True)
class ApiRequest:
    """One request as the emulator served it.

    ``resource`` is empty for non-resource URLs such as ``/apis`` or ``/openapi/v2``.
    ``namespace`` is None for cluster-wide requests. A list or watch across namespaces
    needs a ClusterRole, while one inside a namespace needs only a Role there.
    """

    verb: str
    api_group: str
    version: str
    resource: str
    subresource: str
    namespace: str | None
    name: str | None
    path: str
    user: str
    user_agent: str
    status: int

    @property
    def is_resource_request(self) -> bool:
        return bool(self.resource)


@dataclasses.dataclass(frozen=True, order=True)
class RbacNeed:
    """One permission that a request exercised: what a Role or ClusterRole rule must grant."""

    api_group: str
    resource: str  # "plural" or "plural/subresource", as RBAC rules spell it
    verb: str
    cluster_wide: bool


def rbac_verb(method: str, *, has_name: bool, is_watch: bool) -> str:
    """Map an HTTP method on a resource URL to the verb RBAC authorizes."""
    if method == "GET":
        if is_watch:
            return "watch"
        return "get" if has_name else "list"
    if method == "DELETE" and not has_name:
        return "deletecollection"
    return RBAC_VERB_BY_METHOD.get(method, method.lower())


def rbac_needs(requests: Iterable[ApiRequest]) -> set[RbacNeed]:
    """Return the distinct permissions the given resource requests exercised."""
    needs: set[RbacNeed] = set()
    for request in requests:
        if not request.is_resource_request:
            continue
        resource = request.resource
        if request.subresource:
            resource = f"{resource}/{request.subresource}"
        needs.add(RbacNeed(request.api_group, resource, request.verb, request.namespace is None))
    return needs


def write_request_log(requests: Iterable[ApiRequest], path: Path) -> None:
    """Write the requests as a JSON list of objects, one per request, in order."""
    records = [dataclasses.asdict(request) for request in requests]
    path.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")


def read_request_log(path: Path) -> list[ApiRequest]:
    """Read a log written by ``write_request_log``."""
    records = json.loads(path.read_text(encoding="utf-8"))
    return [ApiRequest(**record) for record in records]
