"""The operator end to end against the emulator: create, update, scale, apply, delete."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from emulator.operator_thread import OperatorThread, wait_for
from emulator.validation import SUPPORTED_VERSIONS, validate_builtin
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from operator_cluster import (
    Cluster,
    budgets,
    deployments,
    modelservice,
    modelservices,
    services,
    startup_budget,
    wait_for_object,
    wait_for_status,
)

from kiln_operator.fragment import pod_fragment
from kiln_operator.reconcile import effective_tuning

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WRITES = {"create", "update", "patch", "delete"}
CHILDREN = {"deployments", "services", "poddisruptionbudgets", "persistentvolumeclaims"}


def test_client_create_builds_tuned_children(cluster: Cluster, namespace: str) -> None:
    api_client = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.admin_kubeconfig))
    custom = k8s.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object("kiln.dev", "v1alpha1", namespace, "modelservices",
                                           modelservice("mini"))

    deployment = wait_for_object(cluster.api, deployments(namespace, "mini"))
    service = wait_for_object(cluster.api, services(namespace, "mini"))
    status = wait_for_status(cluster.api, modelservices(namespace, "mini"),
                             lambda s: s.get("tuning"))

    _, tuning, _ = effective_tuning(modelservice("mini")["spec"], 0)
    fragment = pod_fragment(tuning)["containers"][0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["startupProbe"] == fragment["startupProbe"]
    assert container["livenessProbe"] == fragment["livenessProbe"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == \
        tuning.termination_grace_period_seconds
    assert service["spec"]["ports"][0]["port"] == 80
    assert status["tuning"]["startupBudgetSeconds"] == tuning.startup_budget_seconds
    assert status["tuning"]["weightSize"] == "87Mi"
    assert status["observedGeneration"] == 1
    assert status["selector"] == "app.kubernetes.io/name=kiln,kiln.dev/modelservice=mini"
    assert not cluster.api.exists(budgets(namespace, "mini"))


def test_children_owned_within_namespace(cluster: Cluster, namespace: str) -> None:
    created = cluster.api.create(modelservices(namespace), modelservice("mini"))
    uid = created["metadata"]["uid"]

    children = [wait_for_object(cluster.api, deployments(namespace, "mini")),
                wait_for_object(cluster.api, services(namespace, "mini"))]

    for child in children:
        assert child["metadata"]["namespace"] == namespace
        assert child["metadata"]["ownerReferences"] == [{
            "apiVersion": "kiln.dev/v1alpha1", "kind": "ModelService", "name": "mini",
            "uid": uid, "controller": True, "blockOwnerDeletion": True}]
        assert child["metadata"]["labels"]["app.kubernetes.io/instance"] == "mini"


def test_size_update_changes_probes(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("big"))
    small = wait_for_object(cluster.api, deployments(namespace, "big"))

    cluster.api.merge_patch(modelservices(namespace, "big"), {"spec": {
        "model": {"size": "70Gi"}, "device": {"type": "gpu"}}})
    status = wait_for_status(cluster.api, modelservices(namespace, "big"),
                             lambda s: s.get("observedGeneration") == 2)
    big = cluster.api.get(deployments(namespace, "big"))

    assert startup_budget(big) > startup_budget(small)
    assert startup_budget(big) == status["tuning"]["startupBudgetSeconds"]
    assert big["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > \
        small["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert status["tuning"]["device"] == "gpu"


def test_scale_subresource_scales_children(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("scaled"))
    before = wait_for_object(cluster.api, deployments(namespace, "scaled"))

    cluster.api.merge_patch(modelservices(namespace, "scaled", "scale"), {"spec": {"replicas": 3}})
    budget = wait_for_object(cluster.api, budgets(namespace, "scaled"))
    after = cluster.api.get(deployments(namespace, "scaled"))

    assert after["spec"]["replicas"] == 3
    assert budget["spec"]["maxUnavailable"] == 1
    assert after["spec"]["template"] == before["spec"]["template"]


def test_scale_down_removes_budget(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("shrink", replicas=2))
    wait_for_object(cluster.api, budgets(namespace, "shrink"))

    cluster.api.merge_patch(modelservices(namespace, "shrink", "scale"), {"spec": {"replicas": 1}})

    wait_for(lambda: not cluster.api.exists(budgets(namespace, "shrink")), message="no PDB")
    assert cluster.api.get(deployments(namespace, "shrink"))["spec"]["replicas"] == 1


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(kubeconfig),
           "HOME": str(kubeconfig.parent)}
    return subprocess.run(["/usr/bin/kubectl", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_kubectl_apply_example(cluster: Cluster, namespace: str) -> None:
    applied = kubectl(cluster.admin_kubeconfig, "apply", "--validate=false", "-n", namespace,
                      "-f", str(EXAMPLES / "minilm.yaml"))

    assert applied.returncode == 0, applied.stderr
    deployment = wait_for_object(cluster.api, deployments(namespace, "all-minilm-l6-v2"))
    claim = wait_for_object(cluster.api, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/"
                                         "all-minilm-l6-v2-jobs")
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_status_follows_deployment(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("ready", replicas=2))
    wait_for_object(cluster.api, deployments(namespace, "ready"))

    cluster.api.merge_patch(deployments(namespace, "ready", "status"), {"status": {
        "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2}})
    status = wait_for_status(cluster.api, modelservices(namespace, "ready"),
                             lambda s: s.get("phase") == "Ready")

    conditions = {c["type"]: c for c in status["conditions"]}
    assert status["readyReplicas"] == 2
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Progressing"]["status"] == "False"
    assert conditions["Degraded"]["status"] == "False"
    assert conditions["Ready"]["observedGeneration"] == 1


def test_deleted_deployment_is_recreated(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("again"))
    first = wait_for_object(cluster.api, deployments(namespace, "again"))

    cluster.api.delete(deployments(namespace, "again"))
    second = wait_for(lambda: cluster.api.exists(deployments(namespace, "again"))
                      and cluster.api.get(deployments(namespace, "again")), message="recreated")

    assert isinstance(second, dict)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]


def test_delete_stops_writes(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("gone"))
    wait_for_status(cluster.api, modelservices(namespace, "gone"), lambda s: s.get("tuning"))

    cluster.api.delete(modelservices(namespace, "gone"))
    time.sleep(1.0)
    writes_after_delete = len([r for r in cluster.operator_requests(namespace)
                               if r.verb in WRITES])
    time.sleep(1.0)

    assert not cluster.api.exists(modelservices(namespace, "gone"))
    assert len([r for r in cluster.operator_requests(namespace)
                if r.verb in WRITES]) == writes_after_delete


def test_restart_changes_nothing(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("stable", replicas=2))
    wait_for_object(cluster.api, budgets(namespace, "stable"))
    wait_for_status(cluster.api, modelservices(namespace, "stable"), lambda s: s.get("tuning"))
    time.sleep(0.5)
    before = cluster.api.get(deployments(namespace, "stable"))["metadata"]["resourceVersion"]
    seen = len(cluster.operator_requests(namespace))

    second = OperatorThread(cluster.operator_kubeconfig, namespaces=(namespace,)).start()
    try:
        wait_for(lambda: any(r.verb == "get" and r.resource == "deployments"
                             for r in cluster.operator_requests(namespace)[seen:]),
                 message="the second operator to reconcile")
        time.sleep(1.0)
    finally:
        second.stop()

    child_writes = [r for r in cluster.operator_requests(namespace)[seen:]
                    if r.verb in WRITES and r.resource in CHILDREN]
    assert child_writes == []
    assert cluster.api.get(deployments(namespace, "stable"))["metadata"]["resourceVersion"] == \
        before


def test_written_objects_valid_for_kubernetes(cluster: Cluster, namespace: str) -> None:
    cluster.api.create(modelservices(namespace), modelservice("valid", replicas=2))
    wait_for_object(cluster.api, budgets(namespace, "valid"))
    written: list[dict[str, Any]] = []
    for plural, group in (("deployments", "apps"), ("services", ""),
                          ("poddisruptionbudgets", "policy")):
        history = cluster.emulator.object_history(plural, namespace, "valid", group=group)
        written += [version for version in history if version is not None]

    assert len(written) >= 3
    for obj in written:
        assert validate_builtin(obj, SUPPORTED_VERSIONS) == []


def test_liveness_endpoint_answers(cluster: Cluster) -> None:
    import urllib.request

    with urllib.request.urlopen(cluster.operator.liveness_url, timeout=10) as response:
        assert response.status == 200


def test_gateway_gets_deployment_without_weights(cluster: Cluster, namespace: str) -> None:
    body = modelservice("gateway", replicas=1)
    del body["spec"]["model"]
    body["spec"]["backend"] = {"url": "http://tei.inference:8080"}
    body["spec"]["timing"] = {"maxRequestSeconds": 120}
    cluster.api.create(modelservices(namespace), body)

    deployment = wait_for_object(cluster.api, deployments(namespace, "gateway"))
    status = wait_for_status(cluster.api, modelservices(namespace, "gateway"),
                             lambda s: s.get("tuning"))

    pod = deployment["spec"]["template"]["spec"]
    env = {item["name"]: item.get("value") for item in pod["containers"][0]["env"]}
    assert env["KILN_BACKEND_URL"] == "http://tei.inference:8080"
    assert "KILN_VERIFY" not in env
    assert pod["containers"][0]["resources"]["requests"]["memory"] == "128Mi"
    assert status["tuning"]["mode"] == "gateway"
    assert status["tuning"]["startupBudgetSeconds"] == 30
    assert pod["terminationGracePeriodSeconds"] > 120
