"""Helpers for tests that run the operator against the emulator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.client import KubeRest, resource_path
from emulator.fixtures import ADMIN_TOKEN, OPERATOR_USER
from emulator.operator_thread import OperatorThread, wait_for
from emulator.request_log import ApiRequest
from emulator.running import RunningEmulator


@dataclass
class Cluster:
    """The emulator, the operator running against it, and kubeconfigs for both identities."""

    emulator: RunningEmulator
    operator: OperatorThread
    admin_kubeconfig: Path
    operator_kubeconfig: Path

    @property
    def api(self) -> KubeRest:
        return KubeRest(self.emulator.url, ADMIN_TOKEN)

    def operator_requests(self, namespace: str) -> list[ApiRequest]:
        return [request for request in self.emulator.requests(user=OPERATOR_USER)
                if request.namespace == namespace]


def modelservices(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return resource_path("kiln.dev", "v1alpha1", "modelservices", namespace, name, sub)


def deployments(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return resource_path("apps", "v1", "deployments", namespace, name, sub)


def services(namespace: str, name: str | None = None) -> str:
    return resource_path("", "v1", "services", namespace, name)


def budgets(namespace: str, name: str | None = None) -> str:
    return resource_path("policy", "v1", "poddisruptionbudgets", namespace, name)


def pods(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return resource_path("", "v1", "pods", namespace, name, sub)


def modelservice(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name},
        "spec": {"image": "kiln-server:1", "model": {"size": "87Mi"}, **spec},
    }
    return body


def wait_for_object(api: KubeRest, path: str, timeout: float = 20.0) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(lambda: api.get(path) if api.exists(path) else None,
                                     timeout=timeout, message=path)  # type: ignore[assignment]
    return found


def wait_for_status(api: KubeRest, path: str, check: Any, timeout: float = 20.0) -> dict[str, Any]:
    """Wait until ``check(status)`` is truthy and return the status."""

    def status() -> dict[str, Any] | None:
        current: dict[str, Any] = api.get(path).get("status") or {}
        return current if check(current) else None

    found: dict[str, Any] = wait_for(status, timeout=timeout,
                                     message=f"status of {path}")  # type: ignore[assignment]
    return found


def startup_budget(deployment: dict[str, Any]) -> int:
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    budget: int = probe["initialDelaySeconds"] + probe["periodSeconds"] * probe["failureThreshold"]
    return budget


def events(api: KubeRest, namespace: str, reason: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(resource_path("", "v1", "events", namespace))["items"]
    return [event for event in items if event.get("reason") == reason]
