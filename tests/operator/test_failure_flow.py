"""How the operator handles invalid specs, API errors, deletion mid-retry and status races."""

from __future__ import annotations

import threading
import time
from typing import Any

from emulator.faults import Fault
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

from kiln_operator.kube import KubeApi, load_configuration
from kiln_operator.status import update_status


def deployment_creates(cluster: Cluster, namespace: str) -> list[int]:
    return [request.status for request in cluster.operator_requests(namespace)
            if request.verb == "create" and request.resource == "deployments"]


def test_invalid_spec_degrades_once(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("zero", model={"size": "0"}))

    status = wait_for_status(cluster.api, modelservices(namespace, "zero"),
                             lambda s: s.get("phase") == "Degraded")
    wait_for(lambda: events(cluster.api, namespace, "InvalidSpec"), message="the event")
    status_writes = len([r for r in cluster.operator_requests(namespace)
                         if r.subresource == "status" and r.verb == "patch"])
    time.sleep(2.0)

    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True"
    assert degraded["reason"] == "InvalidSpec"
    assert degraded["message"].startswith("spec.model.size:")
    assert len(events(cluster.api, namespace, "InvalidSpec")) == 1
    assert events(cluster.api, namespace, "InvalidSpec")[0]["type"] == "Warning"
    assert not cluster.api.exists(deployments(namespace, "zero"))
    assert len([r for r in cluster.operator_requests(namespace)
                if r.subresource == "status" and r.verb == "patch"]) == status_writes


def test_fixed_spec_recovers(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("fix", model={"size": "0"}))
    wait_for_status(cluster.api, modelservices(namespace, "fix"),
                    lambda s: s.get("phase") == "Degraded")

    cluster.api.merge_patch(modelservices(namespace, "fix"), {"spec": {"model": {"size": "1Gi"}}})

    wait_for_object(cluster.api, deployments(namespace, "fix"))
    status = wait_for_status(cluster.api, modelservices(namespace, "fix"),
                             lambda s: s.get("phase") != "Degraded")
    assert status["observedGeneration"] == 2


def test_transient_errors_are_retried(cluster: Cluster, namespace: str) -> None:
    cluster.emulator.inject(Fault(verb="create", resource="deployments", namespace=namespace,
                                  status=500, times=2))

    cluster.api.create(modelservices(namespace), modelservice("retry"))

    wait_for_object(cluster.api, deployments(namespace, "retry"))
    assert deployment_creates(cluster, namespace) == [500, 500, 201]


def test_conflict_is_retried(cluster: Cluster, namespace: str) -> None:
    cluster.emulator.inject(Fault(verb="create", resource="services", namespace=namespace,
                                  status=409, times=1, message="Conflict injected."))

    cluster.api.create(modelservices(namespace), modelservice("conflict"))

    wait_for_object(cluster.api, f"/api/v1/namespaces/{namespace}/services/conflict")


def test_delete_during_retry_ends_cleanly(cluster: Cluster, namespace: str) -> None:
    cluster.emulator.inject(Fault(verb="create", resource="deployments", namespace=namespace,
                                  status=503, times=1000))
    cluster.api.create(modelservices(namespace), modelservice("doomed"))
    wait_for(lambda: len(deployment_creates(cluster, namespace)) >= 2, message="two attempts")

    cluster.api.delete(modelservices(namespace, "doomed"))
    time.sleep(3.0)  # longer than the longest retry delay of the test operator (2 s)
    attempts = len(deployment_creates(cluster, namespace))
    time.sleep(3.0)

    assert len(deployment_creates(cluster, namespace)) == attempts
    assert not cluster.api.exists(deployments(namespace, "doomed"))
    assert cluster.operator.alive
    failures = [record for record in cluster.operator.records
                if record.exc_info and "doomed" in record.getMessage()
                and "TemporaryError" not in repr(record.exc_info[1])]
    assert failures == []


def test_status_writers_keep_both_fields(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("race", model={"size": "0"}))
    wait_for_status(cluster.api, modelservices(namespace, "race"), lambda s: s.get("phase"))
    api = KubeApi(load_configuration(str(cluster.operator_kubeconfig)))
    start = threading.Barrier(2)

    def writer(field: str) -> None:
        start.wait()
        for count in range(1, 11):
            def change(status: dict[str, Any], body: dict[str, Any], value: int = count) -> None:
                status.setdefault("learning", {})[field] = value
            update_status(api, namespace, "race", change)

    threads = [threading.Thread(target=writer, args=(field,))
               for field in ("startupBudgetFloorSeconds", "appliedStartupBudgetFloorSeconds")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    status = cluster.api.get(modelservices(namespace, "race"))["status"]
    assert status["learning"]["startupBudgetFloorSeconds"] == 10
    assert status["learning"]["appliedStartupBudgetFloorSeconds"] == 10
    assert status["phase"] == "Degraded"


def test_stale_status_write_is_retried(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("stale", model={"size": "0"}))
    wait_for_status(cluster.api, modelservices(namespace, "stale"), lambda s: s.get("phase"))
    api = KubeApi(load_configuration(str(cluster.operator_kubeconfig)))
    interleaved = threading.Event()

    def other_writer(status: dict[str, Any], body: dict[str, Any]) -> None:
        status.setdefault("learning", {})["appliedStartupBudgetFloorSeconds"] = 7

    def first_writer(status: dict[str, Any], body: dict[str, Any]) -> None:
        status.setdefault("learning", {})["startupBudgetFloorSeconds"] = 9
        if not interleaved.is_set():
            interleaved.set()
            update_status(api, namespace, "stale", other_writer)  # lands between read and write

    update_status(api, namespace, "stale", first_writer)

    learning = cluster.api.get(modelservices(namespace, "stale"))["status"]["learning"]
    assert learning == {"startupBudgetFloorSeconds": 9, "appliedStartupBudgetFloorSeconds": 7}
    assert 409 in [r.status for r in cluster.operator_requests(namespace)
                   if r.subresource == "status"]
