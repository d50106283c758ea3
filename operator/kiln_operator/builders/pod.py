"""The pod template of a ModelService: one server container, safe by default.

Every pod runs as the image's non-root user (UID 10001) with a read-only root filesystem,
no privilege escalation, all capabilities dropped, the runtime's default seccomp profile
and no service-account token, because the server never calls the Kubernetes API. The
server writes only to ``/tmp`` (an emptyDir) and to its job store directory.
"""

from __future__ import annotations

import math
from typing import Any

from kiln_operator.builders.metadata import Owner, common_labels
from kiln_operator.fragment import CONTAINER_PORT, PORT_NAME, container_fragment, deadline_env
from kiln_operator.quantity import format_bytes
from kiln_operator.spec import ModelServiceSpec
from kiln_operator.tuning import Tuning

RUN_AS_USER = 10001
DATA_DIR = "/var/lib/kiln"
JOBS_VOLUME = "jobs"
TMP_VOLUME = "tmp"

# Memory for a local model: its weights plus the runtime, tokenizer and activations. The
# factor and the overhead are estimates; spec.resources overrides them key by key.
MEMORY_FACTOR = 1.25
MEMORY_OVERHEAD = 1024 * 2**20
GATEWAY_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def component(spec: ModelServiceSpec) -> str:
    return "gateway" if spec.gateway else "model-server"


def default_resources(spec: ModelServiceSpec) -> dict[str, dict[str, str]]:
    """Return requests and limits sized to the weights (or small ones for a gateway)."""
    if spec.gateway:
        return {key: dict(values) for key, values in GATEWAY_RESOURCES.items()}
    memory_bytes = math.ceil(spec.weight_bytes * MEMORY_FACTOR) + MEMORY_OVERHEAD
    memory = format_bytes(2**20 * math.ceil(memory_bytes / 2**20))
    resources = {"requests": {"cpu": "1", "memory": memory}, "limits": {"memory": memory}}
    if spec.tuning_inputs.device == "gpu":
        count = str(spec.tuning_inputs.gpu_count)
        resources["requests"][spec.gpu_resource] = count
        resources["limits"][spec.gpu_resource] = count
    return resources


def resources(spec: ModelServiceSpec) -> dict[str, dict[str, Any]]:
    merged = default_resources(spec)
    for key in ("requests", "limits"):
        merged[key].update(spec.resources.get(key) or {})
    return merged


def server_env(spec: ModelServiceSpec, tuning: Tuning) -> list[dict[str, Any]]:
    """Return the container environment: bind address, deadlines, mode, job store, user env."""
    env: list[dict[str, Any]] = [
        {"name": "KILN_HOST", "value": "0.0.0.0"},  # noqa: S104 - the pod network namespace
        {"name": "KILN_PORT", "value": str(CONTAINER_PORT)},
        *deadline_env(tuning),
        {"name": "KILN_DATA_DIR", "value": DATA_DIR},
        {"name": "KILN_JOBS_STORE", "value": spec.jobs.store},
    ]
    if spec.jobs.store == "redis":
        env.append({"name": "KILN_REDIS_URL", "valueFrom": {"secretKeyRef": {
            "name": spec.jobs.redis_secret_name, "key": spec.jobs.redis_secret_key}}})
    if spec.gateway:
        env.append({"name": "KILN_BACKEND_URL", "value": spec.backend_url})
    else:
        env.append({"name": "KILN_VERIFY", "value": spec.tuning_inputs.verify})
        if spec.tuning_inputs.device == "gpu":
            env.append({"name": "KILN_DEVICE", "value": "cuda"})
    if spec.workers is not None:
        env.append({"name": "KILN_WORKERS", "value": str(spec.workers)})
    return env + spec.env


def jobs_volume(owner: Owner, spec: ModelServiceSpec) -> dict[str, Any]:
    if spec.jobs.store == "sqlite" and spec.jobs.volume_size is not None:
        return {"name": JOBS_VOLUME, "persistentVolumeClaim": {"claimName": f"{owner.name}-jobs"}}
    return {"name": JOBS_VOLUME, "emptyDir": {}}


def container(spec: ModelServiceSpec, tuning: Tuning) -> dict[str, Any]:
    tuned = container_fragment(tuning)
    built: dict[str, Any] = {
        "name": tuned["name"],
        "image": spec.image,
        "ports": [{"name": PORT_NAME, "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": server_env(spec, tuning),
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
        "volumeMounts": [
            {"name": TMP_VOLUME, "mountPath": "/tmp"},  # noqa: S108 - an emptyDir per pod
            {"name": JOBS_VOLUME, "mountPath": DATA_DIR},
        ],
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
            "containers": [container(spec, tuning)],
            "volumes": [{"name": TMP_VOLUME, "emptyDir": {}}, jobs_volume(owner, spec)],
            "nodeSelector": spec.node_selector or None,
            "tolerations": spec.tolerations or None,
        },
    }
