"""The ModelService status: tuning block, rollout conditions, and conflict-safe writes.

Three handlers write the status at once: the reconcile handler (tuning, spec errors),
the Deployment watcher (replicas and rollout conditions) and the pod watcher (learning).
Every write reads the object, changes its copy of the status and sends it back with the
``resourceVersion`` it read. The API server rejects a write based on a stale read with 409,
and the writer then retries on fresh data, so no writer can erase another writer's fields.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from kiln_operator.builders.metadata import API_GROUP, PLURAL
from kiln_operator.conditions import DEGRADED, PROGRESSING, READY, phase, set_condition
from kiln_operator.kube import KubeApi
from kiln_operator.quantity import format_bytes
from kiln_operator.tuning import Probe, Tuning, format_duration

logger = logging.getLogger(__name__)

MAX_STATUS_ATTEMPTS = 8
StatusChange = Callable[[dict[str, Any], dict[str, Any]], None]


def modelservice_path(namespace: str, name: str) -> str:
    return f"/apis/{API_GROUP}/v1alpha1/namespaces/{namespace}/{PLURAL}/{name}"


def update_status(api: KubeApi, namespace: str, name: str, change: StatusChange) -> bool:
    """Apply ``change(status, body)`` to the live status; return False if the object is gone.

    ``change`` edits the status dict in place and may read the whole body.
    """
    path = modelservice_path(namespace, name)
    for attempt in range(1, MAX_STATUS_ATTEMPTS + 1):
        body = api.get(path)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return False
        status = copy.deepcopy(body.get("status") or {})
        change(status, body)
        if status == (body.get("status") or {}):
            return True
        patch = {"metadata": {"resourceVersion": body["metadata"]["resourceVersion"]},
                 "status": merge_patch(body.get("status") or {}, status)}
        try:
            api.merge_patch(f"{path}/status", patch)
        except ApiException as error:
            if error.status == 404:
                return False
            if error.status != 409:
                raise
            logger.debug("Status of %s/%s changed meanwhile (attempt %d); retrying.",
                         namespace, name, attempt)
            continue
        return True
    raise RuntimeError(
        f"The status of ModelService {namespace}/{name} kept changing during "
        f"{MAX_STATUS_ATTEMPTS} attempts to write it; the next event will retry."
    )


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Return a JSON merge patch that turns ``old`` into ``new``.

    A merge patch keeps every key it does not mention, so a key that ``new`` dropped is
    sent as None (delete), also inside nested objects. Lists are replaced whole.
    """
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        previous = old.get(key)
        if isinstance(value, dict) and isinstance(previous, dict):
            patch[key] = merge_patch(previous, value)
        else:
            patch[key] = value
    return patch


def _probe_status(probe: Probe) -> dict[str, int]:
    return {
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }


def tuning_status(tuning: Tuning, overridden: list[str]) -> dict[str, Any]:
    """Return the status block with the computed timings and the inputs they came from."""
    inputs = tuning.inputs
    server: dict[str, int] = {
        "drainDelaySeconds": tuning.server.drain_delay_seconds,
        "requestTimeoutSeconds": tuning.server.request_timeout_seconds,
        "loadTimeoutSeconds": tuning.server.load_timeout_seconds,
    }
    if tuning.server.queue_drain_timeout_seconds is not None:
        server["queueDrainTimeoutSeconds"] = tuning.server.queue_drain_timeout_seconds
    block: dict[str, Any] = {
        "mode": "gateway" if inputs.gateway else "local",
        "weightBytes": inputs.weight_bytes,
        "weightSize": format_bytes(inputs.weight_bytes) if inputs.weight_bytes else "0",
        "device": inputs.device,
        "gpuCount": inputs.gpu_count,
        "loadThroughputBytesPerSecond": tuning.load_throughput,
        "loadThroughputSource": "spec" if inputs.load_throughput else "default",
        "verify": inputs.verify,
        "maxRequestSeconds": inputs.max_request_seconds,
        "drainDelaySeconds": inputs.drain_delay_seconds,
        "jobs": inputs.jobs,
        "learnedStartupBudgetFloorSeconds": inputs.startup_budget_floor_seconds,
        "estimatedLoadSeconds": tuning.estimated_load_seconds,
        "fastestLoadSeconds": tuning.fastest_load_seconds,
        "startupBudgetSeconds": tuning.startup_budget_seconds,
        "startupBudget": format_duration(tuning.startup_budget_seconds),
        "terminationGracePeriodSeconds": tuning.termination_grace_period_seconds,
        "startupProbe": _probe_status(tuning.startup),
        "readinessProbe": _probe_status(tuning.readiness),
        "livenessProbe": _probe_status(tuning.liveness),
        "server": server,
        "overridden": overridden,
        "warnings": list(tuning.warnings),
    }
    if inputs.jobs:
        block["queueDrainSeconds"] = inputs.queue_drain_seconds
    return block


def apply_rollout(status: dict[str, Any], deployment: dict[str, Any] | None,
                  desired_replicas: int, generation: int) -> None:
    """Set replica counts, Ready, Progressing, Degraded and the phase from a Deployment."""
    deployment_status = (deployment or {}).get("status") or {}
    ready = deployment_status.get("readyReplicas", 0)
    updated = deployment_status.get("updatedReplicas", 0)
    status["replicas"] = deployment_status.get("replicas", 0)
    status["readyReplicas"] = ready
    status["updatedReplicas"] = updated
    conditions: list[dict[str, Any]] = status.get("conditions", [])

    if desired_replicas == 0:
        conditions = set_condition(conditions, READY, "True", "ScaledToZero",
                                   "spec.replicas is 0.", generation)
    elif ready >= desired_replicas:
        conditions = set_condition(conditions, READY, "True", "AllReplicasReady",
                                   f"{ready} of {desired_replicas} pods are ready.", generation)
    else:
        conditions = set_condition(conditions, READY, "False", "ReplicasNotReady",
                                   f"{ready} of {desired_replicas} pods are ready.", generation)
    rolling = updated < desired_replicas or deployment_status.get("replicas", 0) > updated
    conditions = set_condition(
        conditions, PROGRESSING, "True" if rolling else "False",
        "RollingOut" if rolling else "RolloutComplete",
        f"{updated} of {desired_replicas} pods run the current template.", generation)

    failure = _deployment_failure(deployment_status)
    degraded = next((c for c in conditions if c["type"] == DEGRADED), {})
    reason = degraded.get("reason") if degraded.get("status") == "True" else None
    if failure is not None:
        conditions = set_condition(conditions, DEGRADED, "True", failure[0], failure[1], generation)
    elif reason == "InvalidSpec":
        pass  # The reconcile handler clears it once the spec is valid again.
    elif reason == "StartupProbeKilled" and ready < desired_replicas:
        pass  # Pods still fail to start; cleared once enough of them are ready.
    else:
        conditions = set_condition(conditions, DEGRADED, "False", "Healthy",
                                   "The Deployment reports no failure.", generation)
    status["conditions"] = conditions
    status["phase"] = phase(conditions)


def _deployment_failure(deployment_status: dict[str, Any]) -> tuple[str, str] | None:
    for condition in deployment_status.get("conditions", []):
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return "ReplicaFailure", condition.get("message", "The Deployment cannot create pods.")
        if condition.get("type") == "Progressing" and \
                condition.get("reason") == "ProgressDeadlineExceeded":
            return "ProgressDeadlineExceeded", condition.get("message", "The rollout stalled.")
    return None
