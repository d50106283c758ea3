"""Drive the operator through all of its behaviours and record the API requests it makes.

The scenario covers every code path that talks to the API: creating children (with a job
volume claim and a PodDisruptionBudget), patching them after a spec change (including a
budget that someone edited), removing the
budget on scale-down, following a Deployment's status, learning from pods (which posts
events and patches the Deployment at once), rejecting an invalid spec, recreating a
deleted Deployment, and the deletion of a ModelService. A chart's RBAC test compares the
permissions these requests exercised with the rules the chart grants.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import yaml

from .client import KubeRest, resource_path
from .fixtures import ADMIN_TOKEN, OPERATOR_TOKEN, OPERATOR_USER, REPOSITORY, start_emulator
from .operator_thread import OperatorThread, wait_for
from .request_log import ApiRequest

NAMESPACE = "kiln-scenario"


def _path(group: str, plural: str, name: str | None = None, sub: str | None = None) -> str:
    version = "v1alpha1" if group == "kiln.dev" else "v1"
    return resource_path(group, version, plural, NAMESPACE, name, sub)


def _wait_exists(api: KubeRest, path: str) -> None:
    wait_for(lambda: api.exists(path), message=path)


def _pod(api: KubeRest, owner: str, name: str, status: dict[str, Any]) -> None:
    template = api.get(_path("apps", "deployments", owner))["spec"]["template"]
    api.create(_path("", "pods"), {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "labels": template["metadata"]["labels"]}, "spec": template["spec"]})
    api.merge_patch(_path("", "pods", name, "status"), {"status": status})


def _container_status(**fields: Any) -> dict[str, Any]:
    return {"name": "server", "image": "kiln-server:1", "imageID": "",
            "state": {"running": {"startedAt": "2026-01-01T10:00:00Z"}}, **fields}


def run_operator_scenario(folder: Path) -> list[ApiRequest]:
    """Run the scenario against a fresh emulator; return the operator's requests in order."""
    emulator = start_emulator()
    operator_config = emulator.write_kubeconfig(folder / "operator.kubeconfig", OPERATOR_TOKEN)
    operator = OperatorThread(operator_config).start()
    api = KubeRest(emulator.url, ADMIN_TOKEN)
    models = _path("kiln.dev", "modelservices")
    try:
        example = yaml.safe_load((REPOSITORY / "examples" / "minilm.yaml").read_text())
        api.create(models, example)
        _wait_exists(api, _path("", "persistentvolumeclaims", "all-minilm-l6-v2-jobs"))

        api.create(models, {"apiVersion": "kiln.dev/v1alpha1", "kind": "ModelService",
                            "metadata": {"name": "model"},
                            "spec": {"image": "kiln-server:1", "model": {"size": "1Gi"},
                                     "replicas": 2}})
        _wait_exists(api, _path("policy", "poddisruptionbudgets", "model"))
        api.merge_patch(_path("apps", "deployments", "model", "status"), {"status": {
            "replicas": 2, "readyReplicas": 1, "updatedReplicas": 2}})
        api.merge_patch(_path("policy", "poddisruptionbudgets", "model"),
                        {"spec": {"maxUnavailable": 2}})
        api.merge_patch(_path("kiln.dev", "modelservices", "model"),
                        {"spec": {"model": {"size": "2Gi"}, "service": {"port": 8080}}})
        wait_for(lambda: api.get(_path("policy", "poddisruptionbudgets", "model"))["spec"][
            "maxUnavailable"] == 1, message="the budget restored")
        api.merge_patch(_path("kiln.dev", "modelservices", "model", "scale"),
                        {"spec": {"replicas": 1}})
        wait_for(lambda: not api.exists(_path("policy", "poddisruptionbudgets", "model")),
                 message="the budget removed")

        _pod(api, "model", "model-slow", {"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T10:00:50Z"}],
            "containerStatuses": [_container_status(ready=True, restartCount=0)]})
        probe = api.get(_path("apps", "deployments", "model"))["spec"]["template"]["spec"][
            "containers"][0]["startupProbe"]
        budget = probe["initialDelaySeconds"] + probe["periodSeconds"] * probe["failureThreshold"]
        killed_at = datetime.datetime(2026, 1, 1, 9, 0, 0) + datetime.timedelta(seconds=budget)
        _pod(api, "model", "model-killed", {"containerStatuses": [_container_status(
            ready=False, restartCount=1, lastState={"terminated": {
                "exitCode": 137, "startedAt": "2026-01-01T09:00:00Z",
                "finishedAt": killed_at.strftime("%Y-%m-%dT%H:%M:%SZ")}})]})
        wait_for(lambda: (api.get(_path("kiln.dev", "modelservices", "model")).get("status", {})
                          .get("learning", {}).get("appliedStartupBudgetFloorSeconds")),
                 message="the raised budget applied")

        api.create(models, {"apiVersion": "kiln.dev/v1alpha1", "kind": "ModelService",
                            "metadata": {"name": "invalid"},
                            "spec": {"image": "kiln-server:1", "model": {"size": "0"}}})
        wait_for(lambda: (api.get(_path("kiln.dev", "modelservices", "invalid"))
                          .get("status", {}).get("phase")), message="the invalid spec reported")

        first = api.get(_path("apps", "deployments", "model"))["metadata"]["uid"]
        api.delete(_path("apps", "deployments", "model"))
        wait_for(lambda: api.exists(_path("apps", "deployments", "model")) and api.get(
            _path("apps", "deployments", "model"))["metadata"]["uid"] != first,
            message="the deployment recreated")
        api.delete(_path("kiln.dev", "modelservices", "model"))
    finally:
        operator.stop()
        emulator.stop()
    return emulator.requests(user=OPERATOR_USER)
