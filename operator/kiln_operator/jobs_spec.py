"""The ``spec.jobs`` section: the background job queue, off unless the section is present.

The server runs a job queue only when a store is configured, so the operator configures
one only for a ModelService that has ``spec.jobs``. The stores differ in what they survive:

- ``sqlite``: one database file in ``KILN_DATA_DIR``, written by one server process, so
  ``spec.workers`` above 1 is rejected (the server exits with an error in that case). With
  ``volumeSize`` the file lives on a ReadWriteOnce PersistentVolumeClaim, survives pod
  deletion and serves one replica. Without it each pod keeps its own file in an emptyDir,
  which survives container restarts but is deleted with the pod, together with the jobs
  still queued and the stored results. That is allowed, and the ``JobStoreDurable``
  condition reports what it loses (see ``job_store_condition``).
- ``redis``: the URL comes from a Secret, and every key starts with
  ``kiln:<namespace>/<name>``, so several ModelServices can share one Redis without taking
  each other's jobs. Any number of replicas and worker processes share the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiln_operator.spec_fields import InvalidSpec, byte_quantity, section

STORES = ("sqlite", "redis")


@dataclass(frozen=True)
class JobsSpec:
    store: str = "sqlite"
    volume_size: str | None = None
    storage_class: str | None = None
    redis_secret_name: str | None = None
    redis_secret_key: str | None = None

    @property
    def persistent_volume(self) -> bool:
        """Whether the SQLite store lives on a PersistentVolumeClaim."""
        return self.store == "sqlite" and self.volume_size is not None

    @property
    def pod_local(self) -> bool:
        """Whether the store is an emptyDir, deleted with its pod."""
        return self.store == "sqlite" and self.volume_size is None


def redis_key_prefix(namespace: str, name: str) -> str:
    """Return the Redis key prefix of one ModelService (``KILN_REDIS_KEY_PREFIX``)."""
    return f"kiln:{namespace}/{name}"


def parse_jobs(spec: dict[str, Any], *, replicas: int, workers: int | None) -> JobsSpec | None:
    """Return the job store settings, or None when ``spec.jobs`` is absent (jobs off)."""
    if spec.get("jobs") is None:
        return None
    jobs = section(spec, "jobs")
    store = jobs.get("store", "sqlite")
    if store not in STORES:
        raise InvalidSpec(f"spec.jobs.store: {store!r} is not one of 'sqlite' or 'redis'.")

    secret = jobs.get("redisUrlSecretRef") or {}
    if store == "redis" and not (secret.get("name") and secret.get("key")):
        raise InvalidSpec("spec.jobs.redisUrlSecretRef: the redis store needs the name and key "
                          "of the Secret that holds the Redis URL.")
    if store != "redis" and secret:
        raise InvalidSpec("spec.jobs.redisUrlSecretRef: applies to the redis store only.")

    volume_size = jobs.get("volumeSize")
    if volume_size is not None:
        if store != "sqlite":
            raise InvalidSpec("spec.jobs.volumeSize: applies to the sqlite store only.")
        byte_quantity(jobs, "volumeSize", "spec.jobs")
    if jobs.get("storageClassName") is not None and volume_size is None:
        raise InvalidSpec("spec.jobs.storageClassName: applies only with spec.jobs.volumeSize, "
                          "which requests the volume.")

    if store == "sqlite" and volume_size is not None and replicas > 1:
        raise InvalidSpec(
            f"spec.replicas: {replicas} replicas cannot share the SQLite job store on one "
            "ReadWriteOnce volume; use spec.jobs.store redis or one replica.")
    if store == "sqlite" and workers is not None and workers > 1:
        raise InvalidSpec(
            f"spec.workers: {workers} worker processes cannot share the SQLite job store, "
            "because each would run the same jobs; set spec.workers to 1 or use "
            "spec.jobs.store redis.")

    return JobsSpec(
        store=store,
        volume_size=volume_size,
        storage_class=jobs.get("storageClassName"),
        redis_secret_name=secret.get("name"),
        redis_secret_key=secret.get("key"),
    )

