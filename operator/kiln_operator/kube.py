"""JSON calls to the Kubernetes API with the official client, and create-or-patch of children.

The generated methods of the ``kubernetes`` client (version 37) validate dict bodies against
their models and return model objects. This module instead sends and returns plain JSON
through the client's transport, with the client's authentication and TLS settings.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kiln_operator import __version__

logger = logging.getLogger(__name__)

USER_AGENT = f"kiln-operator/{__version__}"
MERGE_PATCH = "application/merge-patch+json"


def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    """Return the API configuration: in-cluster when run in a pod, else from a kubeconfig.

    ``kubeconfig`` wins over ``KUBECONFIG``, which is read here at call time (the client
    reads it once at import, which is too early for a process that sets it later).
    """
    configuration = client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration)
        return configuration
    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=path, client_configuration=configuration)
    return configuration


class KubeApi:
    """Plain-JSON requests to one API server."""

    def __init__(self, configuration: client.Configuration) -> None:
        self.api_client = client.ApiClient(configuration)
        self.api_client.user_agent = USER_AGENT

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        query: Sequence[tuple[str, str]] = (),
    ) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        _, url, headers, serialized, _ = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(method, url, header_params=headers, body=serialized)
        data: bytes = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            raise ApiException(status=response.status, reason=response.reason,
                               body=data.decode(errors="replace") if data else None)
        return json.loads(data) if data else None

    def get(self, path: str) -> dict[str, Any] | None:
        """Return the object at ``path``, or None when it does not exist."""
        try:
            found: dict[str, Any] = self.request("GET", path)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    def list(self, path: str, label_selector: str) -> list[dict[str, Any]]:
        listing = self.request("GET", path, query=[("labelSelector", label_selector)])
        items: list[dict[str, Any]] = listing.get("items") or []
        return items

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.request("POST", path, body)
        return created

    def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.request("PATCH", path, body, content_type=MERGE_PATCH)
        return patched

    def delete(self, path: str) -> bool:
        """Delete the object at ``path``; return False when it was already gone."""
        try:
            self.request("DELETE", path)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True


def without_nones(value: Any) -> Any:
    """Return ``value`` without the None entries that mark fields to remove in a patch."""
    if isinstance(value, dict):
        return {key: without_nones(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nones(item) for item in value]
    return value


def is_applied(desired: Any, live: Any) -> bool:
    """Tell whether ``live`` already has every field of ``desired``.

    Extra fields in ``live`` are allowed, because the API server adds defaults. A None in
    ``desired`` requires the field to be absent. Lists must have the same length, and each
    item is compared the same way.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        for key, value in desired.items():
            if value is None:
                if live.get(key) is not None:
                    return False
            elif key not in live or not is_applied(value, live[key]):
                return False
        return True
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(is_applied(want, have) for want, have in zip(desired, live, strict=True))
    return bool(desired == live)


def patch_body(
    desired: dict[str, Any], live: dict[str, Any], owned_maps: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Return a merge patch that makes ``live`` match ``desired``.

    A merge patch merges maps key by key, so keys removed from a map the operator owns
    entirely (such as a node selector) are sent as None to delete them.
    """
    body = copy.deepcopy(desired)
    for path in owned_maps:
        want = _read(desired, path) or {}
        have = _read(live, path) or {}
        removed = {key: None for key in have if key not in want}
        if removed:
            target = body
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = {**want, **removed}
    return body


def _read(obj: dict[str, Any], path: Sequence[str]) -> Any:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value
