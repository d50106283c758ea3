"""Read a ModelService spec into typed values, naming the field of every invalid value.

The CRD schema rejects most bad specs at admission, but a spec can still arrive invalid.
Causes are an older CRD, a cluster where the CRD was installed without validation, or a
rule the schema cannot express (a quantity of zero bytes, a grace period shorter than the
shutdown the server needs). Each such spec raises ``InvalidSpec`` with the field path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kiln_operator.quantity import QuantityError, parse_bytes
from kiln_operator.tuning import TuningInputs

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
PROBE_FIELDS = ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")

# Environment variables the operator computes from the spec; a user value would desynchronise
# the server's deadlines from the probes and the grace period.
MANAGED_ENV = frozenset({
    "KILN_DRAIN_DELAY", "KILN_REQUEST_TIMEOUT", "KILN_LOAD_TIMEOUT", "KILN_QUEUE_DRAIN_TIMEOUT",
    "KILN_BACKEND_URL", "KILN_JOBS_STORE", "KILN_REDIS_URL", "KILN_DATA_DIR", "KILN_PORT",
    "KILN_HOST", "KILN_VERIFY", "KILN_WORKERS", "KILN_DEVICE",
})


class InvalidSpec(ValueError):
    """A spec value the operator cannot use; the message starts with the field path."""


@dataclass(frozen=True)
class JobsSpec:
    store: str = "sqlite"
    volume_size: str | None = None
    storage_class: str | None = None
    redis_secret_name: str | None = None
    redis_secret_key: str | None = None


@dataclass(frozen=True)
class ModelServiceSpec:
    """The parts of a ModelService spec the builders and the tuning use."""

    image: str
    image_pull_policy: str | None
    replicas: int
    workers: int | None
    weight_bytes: int
    model_name: str | None
    tuning_inputs: TuningInputs
    gpu_resource: str
    probe_overrides: dict[str, dict[str, int]]
    grace_override: int | None
    resources: dict[str, Any]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    env: list[dict[str, Any]]
    service_port: int
    service_type: str
    jobs: JobsSpec
    backend_url: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def gateway(self) -> bool:
        return self.backend_url is not None


def _section(spec: dict[str, Any], key: str) -> dict[str, Any]:
    value = spec.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidSpec(f"spec.{key}: expected an object, got {value!r}.")
    return value


def _integer(section: dict[str, Any], key: str, path: str, default: int, minimum: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(f"{path}.{key}: expected an integer, got {value!r}.")
    if value < minimum:
        raise InvalidSpec(f"{path}.{key}: {value!r} is below the minimum of {minimum}.")
    return value


def _probe_overrides(probes: dict[str, Any]) -> dict[str, dict[str, int]]:
    overrides: dict[str, dict[str, int]] = {}
    for probe in ("startup", "readiness", "liveness"):
        section = probes.get(probe) or {}
        values: dict[str, int] = {}
        for key in PROBE_FIELDS:
            if key in section:
                minimum = 0 if key == "initialDelaySeconds" else 1
                values[key] = _integer(section, key, f"spec.probes.{probe}", 0, minimum)
        if values:
            overrides[probe] = values
    return overrides


def _jobs(spec: dict[str, Any], replicas: int) -> JobsSpec:
    jobs = _section(spec, "jobs")
    store = jobs.get("store", "sqlite")
    if store not in ("sqlite", "redis"):
        raise InvalidSpec(f"spec.jobs.store: {store!r} is not one of 'sqlite' or 'redis'.")
    secret = jobs.get("redisUrlSecretRef") or {}
    if store == "redis" and not (secret.get("name") and secret.get("key")):
        raise InvalidSpec("spec.jobs.redisUrlSecretRef: the redis store needs the name and key "
                          "of the Secret that holds the Redis URL.")
    volume_size = jobs.get("volumeSize")
    if volume_size is not None:
        if store != "sqlite":
            raise InvalidSpec("spec.jobs.volumeSize: applies to the sqlite store only.")
        try:
            parse_bytes(volume_size, field="spec.jobs.volumeSize")
        except QuantityError as error:
            raise InvalidSpec(str(error)) from error
        if replicas > 1:
            raise InvalidSpec(
                f"spec.replicas: {replicas} replicas cannot share the SQLite job store on one "
                "ReadWriteOnce volume; use spec.jobs.store redis or one replica.")
    return JobsSpec(
        store=store,
        volume_size=volume_size,
        storage_class=jobs.get("storageClassName"),
        redis_secret_name=secret.get("name"),
        redis_secret_key=secret.get("key"),
    )


def _env(spec: dict[str, Any]) -> list[dict[str, Any]]:
    env = spec.get("env") or []
    for index, variable in enumerate(env):
        name = variable.get("name") if isinstance(variable, dict) else None
        if not name:
            raise InvalidSpec(f"spec.env[{index}].name: missing.")
        if name in MANAGED_ENV:
            raise InvalidSpec(f"spec.env[{index}].name: {name} is computed by the operator from "
                              "the spec; set the matching spec field instead.")
    return list(env)


def parse_spec(spec: dict[str, Any], *, startup_budget_floor: int = 0) -> ModelServiceSpec:
    """Return the typed spec, or raise ``InvalidSpec`` naming the first invalid field."""
    image = spec.get("image")
    if not isinstance(image, str) or not image:
        raise InvalidSpec(f"spec.image: expected a container image reference, got {image!r}.")
    replicas = _integer(spec, "replicas", "spec", 1, 0)
    model = _section(spec, "model")
    backend = _section(spec, "backend")
    device = _section(spec, "device")
    timing = _section(spec, "timing")
    device_type = device.get("type", "cpu")
    if device_type not in ("cpu", "gpu"):
        raise InvalidSpec(f"spec.device.type: {device_type!r} is not one of 'cpu' or 'gpu'.")
    backend_url = backend.get("url")
    if model and backend:
        raise InvalidSpec("spec.backend: spec.model and spec.backend exclude each other, because "
                          "a gateway to an external backend loads no weights.")
    if not model and not backend_url:
        raise InvalidSpec("spec.model.size: missing; set the weight size printed by `kiln bake`, "
                          "or spec.backend.url for an external backend.")
    if backend_url and device_type != "cpu":
        raise InvalidSpec("spec.device.type: a gateway to spec.backend loads no weights, so the "
                          "device must be cpu.")
    workers = spec.get("workers")
    if workers is not None and workers > 1 and device_type == "gpu" and not backend_url:
        raise InvalidSpec(f"spec.workers: {workers} workers on a GPU would each load the weights; "
                          "set 1, or serve through spec.backend.")

    try:
        weight_bytes = 0 if backend_url else parse_bytes(model.get("size"), field="spec.model.size")
        throughput = model.get("loadThroughput")
        load_throughput = (parse_bytes(throughput, field="spec.model.loadThroughput")
                           if throughput is not None else None)
    except QuantityError as error:
        raise InvalidSpec(str(error)) from error

    gpu_count = _integer(device, "count", "spec.device", 1, 1) if device_type == "gpu" else 0
    replicas_jobs = _jobs(spec, replicas)
    inputs = TuningInputs(
        weight_bytes=weight_bytes,
        device=device_type,
        gpu_count=gpu_count,
        load_throughput=load_throughput,
        verify=model.get("verify", "full"),
        max_request_seconds=_integer(timing, "maxRequestSeconds", "spec.timing", 30, 1),
        drain_delay_seconds=_integer(timing, "drainDelaySeconds", "spec.timing", 5, 0),
        queue_drain_seconds=_integer(timing, "queueDrainSeconds", "spec.timing", 10, 0),
        drain_mode=timing.get("drainMode", "server"),
        gateway=backend_url is not None,
        startup_budget_floor_seconds=startup_budget_floor,
    )
    probes = _section(spec, "probes")
    grace = probes.get("terminationGracePeriodSeconds")
    service = _section(spec, "service")
    return ModelServiceSpec(
        image=image,
        image_pull_policy=spec.get("imagePullPolicy"),
        replicas=replicas,
        workers=workers,
        weight_bytes=weight_bytes,
        model_name=model.get("name"),
        tuning_inputs=inputs,
        gpu_resource=device.get("resourceName", DEFAULT_GPU_RESOURCE),
        probe_overrides=_probe_overrides(probes),
        grace_override=None if grace is None else _integer(probes, "terminationGracePeriodSeconds",
                                                           "spec.probes", 1, 1),
        resources=_section(spec, "resources"),
        node_selector=dict(_section(spec, "nodeSelector")),
        tolerations=list(spec.get("tolerations") or []),
        env=_env(spec),
        service_port=_integer(service, "port", "spec.service", 80, 1),
        service_type=service.get("type", "ClusterIP"),
        jobs=replicas_jobs,
        backend_url=backend_url,
        raw=spec,
    )
