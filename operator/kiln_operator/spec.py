"""Read a ModelService spec into typed values, naming the field of every invalid value.

The CRD schema rejects most bad specs at admission, but a spec can still arrive invalid.
Causes are an older CRD, a cluster where the CRD was installed without validation, or a
rule the schema cannot express (a quantity of zero bytes, a grace period shorter than the
shutdown the server needs). Each such spec raises ``InvalidSpec`` with the field path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kiln_operator.adapters_spec import AdaptersSpec, parse_adapters
from kiln_operator.jobs_spec import JobsSpec, parse_jobs
from kiln_operator.quantity import QuantityError, parse_bytes
from kiln_operator.spec_fields import InvalidSpec, integer, section
from kiln_operator.tuning import TuningInputs

__all__ = ["AdaptersSpec", "InvalidSpec", "JobsSpec", "ModelServiceSpec", "parse_spec"]

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
PROBE_FIELDS = ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")

# Environment variables the operator computes from the spec. A user value would break what
# the operator keeps in step: the server's deadlines with the probes and the grace period,
# the job store with its volume, and the adapter cache with the memory request.
MANAGED_ENV = frozenset({
    "KILN_DRAIN_DELAY", "KILN_REQUEST_TIMEOUT", "KILN_LOAD_TIMEOUT", "KILN_QUEUE_DRAIN_TIMEOUT",
    "KILN_BACKEND_URL", "KILN_JOBS_STORE", "KILN_REDIS_URL", "KILN_REDIS_KEY_PREFIX",
    "KILN_DATA_DIR", "KILN_PORT", "KILN_HOST", "KILN_VERIFY", "KILN_WORKERS", "KILN_DEVICE",
    "KILN_ADAPTERS_DIR", "KILN_ADAPTER_CACHE_BYTES", "KILN_ADAPTER_CACHE_COUNT",
})


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
    jobs: JobsSpec | None  # None: the job queue is off
    adapters: AdaptersSpec | None
    backend_url: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def gateway(self) -> bool:
        return self.backend_url is not None


def _probe_overrides(probes: dict[str, Any]) -> dict[str, dict[str, int]]:
    overrides: dict[str, dict[str, int]] = {}
    for probe in ("startup", "readiness", "liveness"):
        probe_spec = section(probes, probe, "spec.probes")
        values: dict[str, int] = {}
        for key in PROBE_FIELDS:
            if key in probe_spec:
                minimum = 0 if key == "initialDelaySeconds" else 1
                values[key] = integer(probe_spec, key, f"spec.probes.{probe}", 0, minimum)
        if values:
            overrides[probe] = values
    return overrides


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
    replicas = integer(spec, "replicas", "spec", 1, 0)
    model = section(spec, "model")
    backend = section(spec, "backend")
    device = section(spec, "device")
    timing = section(spec, "timing")
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
    workers = None if spec.get("workers") is None else integer(spec, "workers", "spec", 1, 1)
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

    gpu_count = integer(device, "count", "spec.device", 1, 1) if device_type == "gpu" else 0
    jobs = parse_jobs(spec, replicas=replicas, workers=workers)
    inputs = TuningInputs(
        weight_bytes=weight_bytes,
        device=device_type,
        gpu_count=gpu_count,
        load_throughput=load_throughput,
        verify=model.get("verify", "full"),
        max_request_seconds=integer(timing, "maxRequestSeconds", "spec.timing", 30, 1),
        drain_delay_seconds=integer(timing, "drainDelaySeconds", "spec.timing", 5, 0),
        queue_drain_seconds=integer(timing, "queueDrainSeconds", "spec.timing", 10, 0),
        jobs=jobs is not None,
        drain_mode=timing.get("drainMode", "server"),
        gateway=backend_url is not None,
        startup_budget_floor_seconds=startup_budget_floor,
    )
    probes = section(spec, "probes")
    grace = probes.get("terminationGracePeriodSeconds")
    service = section(spec, "service")
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
        grace_override=None if grace is None else integer(probes, "terminationGracePeriodSeconds",
                                                           "spec.probes", 1, 1),
        resources=section(spec, "resources"),
        node_selector=dict(section(spec, "nodeSelector")),
        tolerations=list(spec.get("tolerations") or []),
        env=_env(spec),
        service_port=integer(service, "port", "spec.service", 80, 1),
        service_type=service.get("type", "ClusterIP"),
        jobs=jobs,
        adapters=parse_adapters(spec),
        backend_url=backend_url,
        raw=spec,
    )
