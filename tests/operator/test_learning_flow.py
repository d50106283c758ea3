"""The learning loop end to end: pods with chosen start and ready times raise the budget.

The test acts as the kubelet: it creates the pods of a ModelService and writes their
status (container start, Ready condition, last termination) through the status subresource.
"""

from __future__ import annotations

import time
from typing import Any

from emulator.operator_thread import wait_for
from operator_cluster import (
    Cluster,
    deployments,
    events,
    modelservice,
    modelservices,
    pods,
    startup_budget,
    wait_for_object,
    wait_for_status,
)

STARTED = "2026-01-01T10:00:00Z"


def create_pod(cluster: Cluster, namespace: str, owner: str, name: str) -> None:
    """Create a pod from the Deployment's template, as the ReplicaSet controller would."""
    template = cluster.api.get(deployments(namespace, owner))["spec"]["template"]
    cluster.api.create(pods(namespace), {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    })


def set_pod_status(cluster: Cluster, namespace: str, name: str, status: dict[str, Any]) -> None:
    cluster.api.merge_patch(pods(namespace, name, "status"), {"status": status})


def ready_status(ready_at: str) -> dict[str, Any]:
    return {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ready_at}],
        "containerStatuses": [{"name": "server", "ready": True, "restartCount": 0,
                               "image": "kiln-server:1", "imageID": "", "started": True,
                               "state": {"running": {"startedAt": STARTED}}}],
    }


def killed_status(ran_seconds: int) -> dict[str, Any]:
    finished = f"2026-01-01T09:{ran_seconds // 60:02d}:{ran_seconds % 60:02d}Z"
    return {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False",
                        "lastTransitionTime": "2026-01-01T09:00:00Z"}],
        "containerStatuses": [{
            "name": "server", "ready": False, "restartCount": 1, "image": "kiln-server:1",
            "imageID": "", "started": False,
            "state": {"running": {"startedAt": STARTED}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "Error",
                                         "startedAt": "2026-01-01T09:00:00Z",
                                         "finishedAt": finished}},
        }],
    }


def deployment_versions(cluster: Cluster, namespace: str, name: str) -> int:
    history = cluster.emulator.object_history("deployments", namespace, name, group="apps")
    return len([version for version in history if version is not None])


def test_fast_pod_records_time_only(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("fast"))
    wait_for_object(cluster.api, deployments(namespace, "fast"))
    create_pod(cluster, namespace, "fast", "fast-1")

    set_pod_status(cluster, namespace, "fast-1", ready_status("2026-01-01T10:00:12Z"))
    status = wait_for_status(cluster.api, modelservices(namespace, "fast"),
                             lambda s: s.get("learning", {}).get("latestTimeToReadySeconds"))

    assert status["learning"]["latestTimeToReadySeconds"] == 12.0
    assert status["learning"]["maxTimeToReadySeconds"] == 12.0
    assert "startupBudgetFloorSeconds" not in status["learning"]


def test_slow_healthy_pod_raises_budget_later(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("slow"))
    before = wait_for_object(cluster.api, deployments(namespace, "slow"))
    wait_for_status(cluster.api, modelservices(namespace, "slow"), lambda s: s.get("tuning"))
    create_pod(cluster, namespace, "slow", "slow-1")
    versions = deployment_versions(cluster, namespace, "slow")

    set_pod_status(cluster, namespace, "slow-1", ready_status("2026-01-01T10:00:41Z"))
    status = wait_for_status(cluster.api, modelservices(namespace, "slow"),
                             lambda s: s.get("learning", {}).get("startupBudgetFloorSeconds"))
    raised = wait_for(lambda: events(cluster.api, namespace, "StartupBudgetRaised"),
                      message="the event")
    time.sleep(1.0)

    assert startup_budget(before) == 60
    assert status["learning"]["startupBudgetFloorSeconds"] == 85
    assert "took 41 s to become ready" in status["learning"]["reason"]
    assert status["learning"]["raisedAt"]
    assert isinstance(raised, list)
    assert raised[0]["type"] == "Normal"
    assert "with the next rollout" in raised[0]["message"]
    assert deployment_versions(cluster, namespace, "slow") == versions
    assert startup_budget(cluster.api.get(deployments(namespace, "slow"))) == 60


def test_next_rollout_applies_raised_budget(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("later"))
    wait_for_object(cluster.api, deployments(namespace, "later"))
    create_pod(cluster, namespace, "later", "later-1")
    set_pod_status(cluster, namespace, "later-1", ready_status("2026-01-01T10:00:41Z"))
    wait_for_status(cluster.api, modelservices(namespace, "later"),
                    lambda s: s.get("learning", {}).get("startupBudgetFloorSeconds"))

    cluster.api.merge_patch(modelservices(namespace, "later"), {"spec": {"image": "kiln-server:2"}})
    status = wait_for_status(cluster.api, modelservices(namespace, "later"),
                             lambda s: s.get("observedGeneration") == 2)

    assert startup_budget(cluster.api.get(deployments(namespace, "later"))) == 85
    assert status["learning"]["appliedStartupBudgetFloorSeconds"] == 85
    assert status["tuning"]["learnedStartupBudgetFloorSeconds"] == 85


def test_killed_pod_raises_budget_now(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("killed"))
    wait_for_object(cluster.api, deployments(namespace, "killed"))
    create_pod(cluster, namespace, "killed", "killed-1")

    set_pod_status(cluster, namespace, "killed-1", killed_status(61))
    deployment = wait_for(
        lambda: (found := cluster.api.get(deployments(namespace, "killed")))
        and startup_budget(found) > 60 and found, message="the raised budget")
    status = wait_for_status(
        cluster.api, modelservices(namespace, "killed"),
        lambda s: s.get("learning", {}).get("appliedStartupBudgetFloorSeconds"))
    raised = events(cluster.api, namespace, "StartupBudgetRaised")

    assert isinstance(deployment, dict)
    assert startup_budget(deployment) == 125
    assert status["learning"]["startupBudgetFloorSeconds"] == 125
    assert status["learning"]["appliedStartupBudgetFloorSeconds"] == 125
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "StartupProbeKilled"
    assert raised[0]["type"] == "Warning"
    assert "killed by its startup probe after 61 s" in raised[0]["message"]
