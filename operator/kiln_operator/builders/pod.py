"""The pod template of a ModelService: one server container, safe by default.

Every pod runs as the image's non-root user (UID 10001) with a read-only root filesystem,
no privilege escalation, all capabilities dropped, the runtime's default seccomp profile
and no service-account token, because the server never calls the Kubernetes API. The
server writes only to ``/tmp`` (an emptyDir) and, with the SQLite job store, to the store's
directory. A claim of adapters is mounted read-only.
"""

from __future__ import annotations

from typing import Any

from kiln_operator.builders.metadata import Owner, common_labels
from kiln_operator.builders.resources import resources
from kiln_operator.container_paths import DATA_DIR, TMP_DIR
from kiln_operator.fragment import CONTAINER_PORT, PORT_NAME, container_fragment, deadline_env
from kiln_operator.jobs_spec import redis_key_prefix
from kiln_operator.spec import ModelServiceSpec
from kiln_operator.tuning import Tuning

RUN_AS_USER = 10001
JOBS_VOLUME = "jobs"
ADAPTERS_VOLUME = "adapters"
TMP_VOLUME = "tmp"


def component(spec: ModelServiceSpec) -> str:
    return "gateway" if spec.gateway else "model-server"


def jobs_env(owner: Owner, spec: ModelServiceSpec) -> list[dict[str, Any]]:
    """Return the job store settings; none when spec.jobs is absent, so jobs stay off."""
    jobs = spec.jobs
    if jobs is None:
        return []
    env: list[dict[str, Any]] = [{"name": "KILN_JOBS_STORE", "value": jobs.store}]
    if jobs.store == "sqlite":
        env.append({"name": "KILN_DATA_DIR", "value": DATA_DIR})
    else:
        env.append({"name": "KILN_REDIS_URL", "valueFrom": {"secretKeyRef": {
            "name": jobs.redis_secret_name, "key": jobs.redis_secret_key}}})
        env.append({"name": "KILN_REDIS_KEY_PREFIX",
                    "value": redis_key_prefix(owner.namespace, owner.name)})
    return env


def adapters_env(spec: ModelServiceSpec) -> list[dict[str, Any]]:
    adapters = spec.adapters
    if adapters is None:
        return []
    return [
        {"name": "KILN_ADAPTERS_DIR", "value": adapters.path},
        {"name": "KILN_ADAPTER_CACHE_BYTES", "value": str(adapters.cache_bytes)},
        {"name": "KILN_ADAPTER_CACHE_COUNT", "value": str(adapters.cache_count)},
    ]


def server_env(owner: Owner, spec: ModelServiceSpec, tuning: Tuning) -> list[dict[str, Any]]:
    """Return the container environment: bind address, deadlines, mode, job store, adapters
    and the user's env."""
    env: list[dict[str, Any]] = [
        {"name": "KILN_HOST", "value": "0.0.0.0"},  # noqa: S104 - the pod network namespace
        {"name": "KILN_PORT", "value": str(CONTAINER_PORT)},
        *deadline_env(tuning),
        *jobs_env(owner, spec),
        *adapters_env(spec),
    ]
    if spec.gateway:
        env.append({"name": "KILN_BACKEND_URL", "value": spec.backend_url})
    else:
        env.append({"name": "KILN_VERIFY", "value": spec.tuning_inputs.verify})
        if spec.tuning_inputs.device == "gpu":
            env.append({"name": "KILN_DEVICE", "value": "cuda"})
    if spec.workers is not None:
        env.append({"name": "KILN_WORKERS", "value": str(spec.workers)})
    return env + spec.env


def volumes(owner: Owner, spec: ModelServiceSpec) -> list[dict[str, Any]]:
    """Return the pod volumes: /tmp, the SQLite job store and the claim of adapters."""
    built: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {}}]
    if spec.jobs is not None and spec.jobs.persistent_volume:
        built.append({"name": JOBS_VOLUME,
                      "persistentVolumeClaim": {"claimName": f"{owner.name}-jobs"}})
    elif spec.jobs is not None and spec.jobs.pod_local:
        built.append({"name": JOBS_VOLUME, "emptyDir": {}})
    if spec.adapters is not None and spec.adapters.claim_name is not None:
        built.append({"name": ADAPTERS_VOLUME, "persistentVolumeClaim": {
            "claimName": spec.adapters.claim_name, "readOnly": True}})
    return built


def volume_mounts(spec: ModelServiceSpec) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"name": TMP_VOLUME, "mountPath": TMP_DIR}]
    if spec.jobs is not None and spec.jobs.store == "sqlite":
        mounts.append({"name": JOBS_VOLUME, "mountPath": DATA_DIR})
    if spec.adapters is not None and spec.adapters.claim_name is not None:
        mounts.append({"name": ADAPTERS_VOLUME, "mountPath": spec.adapters.path,
                       "readOnly": True})
    return mounts


def container(owner: Owner, spec: ModelServiceSpec, tuning: Tuning) -> dict[str, Any]:
    tuned = container_fragment(tuning)
    built: dict[str, Any] = {
        "name": tuned["name"],
        "image": spec.image,
        "ports": [{"name": PORT_NAME, "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": server_env(owner, spec, tuning),
        "resources": resources(spec),
        "startupProbe": tuned["startupProbe"],
        "readinessProbe": tuned["readinessProbe"],
        "livenessProbe": tuned["livenessProbe"],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": volume_mounts(spec),
    }
    if tuned["lifecycle"]:
        built["lifecycle"] = tuned["lifecycle"]
    if spec.image_pull_policy is not None:
        built["imagePullPolicy"] = spec.image_pull_policy
    return built


def pod_template(owner: Owner, spec: ModelServiceSpec, tuning: Tuning) -> dict[str, Any]:
    """Return the Deployment's pod template, with None for the optional fields left unset."""
    return {
        "metadata": {"labels": common_labels(owner, component(spec))},
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": tuning.termination_grace_period_seconds,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS_USER,
                "runAsGroup": RUN_AS_USER,
                "fsGroup": RUN_AS_USER,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container(owner, spec, tuning)],
            "volumes": volumes(owner, spec),
            "nodeSelector": spec.node_selector or None,
            "tolerations": spec.tolerations or None,
        },
    }
