"""The job queue against the emulator: off by default, and honest about what it survives."""

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
    wait_for_object,
    wait_for_status,
)

CLAIMS = "persistentvolumeclaims"


def condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), None)


def env_names(deployment: dict[str, Any]) -> set[str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {item["name"] for item in container["env"]}


def test_no_jobs_section_no_queue(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("plain"))

    deployment = wait_for_object(cluster.api, deployments(namespace, "plain"))
    status = wait_for_status(cluster.api, modelservices(namespace, "plain"),
                             lambda s: s.get("tuning"))

    assert not env_names(deployment) & {"KILN_JOBS_STORE", "KILN_DATA_DIR",
                                        "KILN_QUEUE_DRAIN_TIMEOUT"}
    assert status["tuning"]["jobs"] is False
    assert "queueDrainSeconds" not in status["tuning"]
    assert condition(status, "JobStoreDurable") is None


def test_emptydir_store_reported_once(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("scratch", jobs={}))

    status = wait_for_status(cluster.api, modelservices(namespace, "scratch"),
                             lambda s: condition(s, "JobStoreDurable"))
    wait_for(lambda: events(cluster.api, namespace, "PodLocalStore"), message="the event")
    cluster.api.merge_patch(modelservices(namespace, "scratch"),
                            {"spec": {"timing": {"maxRequestSeconds": 45}}})
    wait_for_status(cluster.api, modelservices(namespace, "scratch"),
                    lambda s: s.get("observedGeneration") == 2)
    time.sleep(0.5)

    durable = condition(status, "JobStoreDurable")
    assert durable is not None
    assert durable["status"] == "False"
    assert durable["reason"] == "PodLocalStore"
    assert "lost" in durable["message"]
    assert status["phase"] != "Degraded"
    assert len(events(cluster.api, namespace, "PodLocalStore")) == 1
    assert events(cluster.api, namespace, "PodLocalStore")[0]["type"] == "Warning"
    assert not cluster.api.exists(f"/api/v1/namespaces/{namespace}/{CLAIMS}/scratch-jobs")


def test_scaled_emptydir_store_warns_again(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("spread", jobs={}))
    wait_for(lambda: events(cluster.api, namespace, "PodLocalStore"), message="the first event")

    cluster.api.merge_patch(modelservices(namespace, "spread", "scale"), {"spec": {"replicas": 3}})
    status = wait_for_status(
        cluster.api, modelservices(namespace, "spread"),
        lambda s: (condition(s, "JobStoreDurable") or {}).get("reason") ==
        "PodLocalStorePerReplica")
    wait_for(lambda: events(cluster.api, namespace, "PodLocalStorePerReplica"),
             message="the second event")

    durable = condition(status, "JobStoreDurable")
    assert durable is not None
    assert durable["status"] == "False"
    assert "Each of the 3 pods keeps its own SQLite job store" in durable["message"]
    assert len(events(cluster.api, namespace, "PodLocalStore")) == 1


def test_volume_makes_store_durable(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("keep", jobs={}))
    wait_for_status(cluster.api, modelservices(namespace, "keep"),
                    lambda s: condition(s, "JobStoreDurable"))

    cluster.api.merge_patch(modelservices(namespace, "keep"),
                            {"spec": {"jobs": {"volumeSize": "2Gi"}}})
    status = wait_for_status(
        cluster.api, modelservices(namespace, "keep"),
        lambda s: (condition(s, "JobStoreDurable") or {}).get("status") == "True")
    claim = wait_for_object(cluster.api, f"/api/v1/namespaces/{namespace}/{CLAIMS}/keep-jobs")

    durable = condition(status, "JobStoreDurable")
    assert durable is not None
    assert durable["reason"] == "PersistentVolume"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert cluster.api.get(deployments(namespace, "keep"))["spec"]["strategy"]["type"] == \
        "Recreate"


def test_jobs_removed_clears_status(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("drop", jobs={}))
    before = wait_for_status(cluster.api, modelservices(namespace, "drop"),
                             lambda s: condition(s, "JobStoreDurable"))

    cluster.api.json_patch(modelservices(namespace, "drop"),
                           [{"op": "remove", "path": "/spec/jobs"}])
    status = wait_for_status(cluster.api, modelservices(namespace, "drop"),
                             lambda s: s.get("observedGeneration") == 2)
    deployment = cluster.api.get(deployments(namespace, "drop"))

    assert before["tuning"]["queueDrainSeconds"] == 10
    assert before["tuning"]["server"]["queueDrainTimeoutSeconds"] == 10
    assert condition(status, "JobStoreDurable") is None
    assert "queueDrainSeconds" not in status["tuning"]
    assert "queueDrainTimeoutSeconds" not in status["tuning"]["server"]
    assert "KILN_JOBS_STORE" not in env_names(deployment)
    assert status["tuning"]["terminationGracePeriodSeconds"] < \
        before["tuning"]["terminationGracePeriodSeconds"]
