"""The ``JobStoreDurable`` condition: what the job store of a ModelService survives.

An SQLite store without ``spec.jobs.volumeSize`` lives in an emptyDir per pod. That is
allowed, because it suits clusters without a storage provisioner and survives container
restarts. The operator reports what it loses instead: the condition is False, and one
Warning event is posted each time it turns False or changes its reason. With several
replicas the reason is ``PodLocalStorePerReplica``, because each pod then keeps jobs that
the others cannot see. The condition is absent while the job queue is off.
"""

from __future__ import annotations

from typing import Any

from kiln_operator.conditions import ConditionStatus, set_condition
from kiln_operator.jobs_spec import JobsSpec

JOB_STORE_DURABLE = "JobStoreDurable"

POD_LOCAL_LOSS = (
    "jobs survive container restarts, but when a pod is deleted (rollout, eviction, node "
    "drain, scale-down) the jobs still queued after its queue drain are lost, and so are the "
    "results of its finished jobs. Set spec.jobs.volumeSize to keep them on a persistent "
    "volume, or use spec.jobs.store redis."
)


def job_store_condition(jobs: JobsSpec, replicas: int) -> tuple[ConditionStatus, str, str]:
    """Return the status, reason and message of the condition for a configured store."""
    if jobs.pod_local and replicas > 1:
        return ("False", "PodLocalStorePerReplica",
                f"Each of the {replicas} pods keeps its own SQLite job store in an emptyDir, "
                "because spec.jobs.volumeSize is unset: a client that polls a job through the "
                "Service finds it only on the pod that accepted it, and " + POD_LOCAL_LOSS)
    if jobs.pod_local:
        return ("False", "PodLocalStore",
                "The SQLite job store lives in an emptyDir, because spec.jobs.volumeSize is "
                "unset: " + POD_LOCAL_LOSS)
    if jobs.store == "sqlite":
        return ("True", "PersistentVolume",
                "The SQLite job store lives on the PersistentVolumeClaim requested by "
                "spec.jobs.volumeSize, so queued jobs and results survive pod deletion.")
    return ("True", "Redis",
            f"The job store is Redis (URL in Secret {jobs.redis_secret_name}, key "
            f"{jobs.redis_secret_key}); jobs survive pod deletion for as long as Redis keeps "
            "its data, which needs Redis persistence (appendonly).")


def apply_job_store(status: dict[str, Any], jobs: JobsSpec | None, replicas: int,
                    generation: int) -> tuple[str, str] | None:
    """Set or remove the condition in ``status``.

    Return the reason and message to post as a Warning event when the condition turned
    False or changed its reason now, else None.
    """
    conditions: list[dict[str, Any]] = status.get("conditions", [])
    previous = next((c for c in conditions if c.get("type") == JOB_STORE_DURABLE), None)
    if jobs is None:
        if previous is not None:
            status["conditions"] = [c for c in conditions if c is not previous]
        return None
    condition, reason, message = job_store_condition(jobs, replicas)
    status["conditions"] = set_condition(conditions, JOB_STORE_DURABLE, condition, reason,
                                         message, generation)
    unchanged = previous is not None and (previous.get("status"), previous.get("reason")) == \
        (condition, reason)
    if condition == "False" and not unchanged:
        return reason, message
    return None
