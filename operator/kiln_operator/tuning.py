"""Compute probes, grace period and server deadlines from the model's size and device.

The decision: the startup budget must cover a slow load with room to spare. A generous
budget costs nothing when the load succeeds, because the startup probe passes as soon as
the server is ready. A short one kills slow loads in a crash loop. So:

- estimated load = runtime start + weight bytes / load throughput + hashing (``verify: full``)
  + warm-up, with pessimistic defaults (below);
- the startup probe's initial delay is about the fastest plausible load, so the kubelet
  sends no probe that is bound to fail; its budget (initial delay + period x failure
  threshold) is at least twice the estimate, at least ``MIN_STARTUP_BUDGET_SECONDS``,
  at least any floor learned from pods that loaded slowly, and at most
  ``MAX_STARTUP_BUDGET_SECONDS`` (a warning is added above one hour);
- the period grows with the budget so that the kubelet sends about
  ``TARGET_STARTUP_PROBES`` probes, whatever the model size;
- the grace period covers the server's worst-case shutdown plus a margin: the endpoint
  drain delay, the longest in-flight request, and, only when the job queue is on, the
  queue-drain deadline plus one more longest request (jobs still running at that deadline
  get the request timeout to finish), then the model release. The server gets the same
  numbers as its own deadlines, so it exits before the kubelet's SIGKILL;
- the server's load timeout is a little under the startup budget, so a stuck load ends
  with the server's own error message instead of a silent kill.

Every value is monotone in the weight size: a bigger model never gets a smaller startup
budget or grace period. The function is pure: no Kubernetes calls, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Device = Literal["cpu", "gpu"]
Verification = Literal["full", "size"]
DrainMode = Literal["server", "preStopSleep"]

MIB = 2**20
GIB = 2**30

# Seconds from container start until the server reads weights: interpreter start and the
# imports of torch and the server. GPU adds CUDA context creation. Pessimistic estimates
# for a busy node; the fastest values are for an idle node with warm page cache.
RUNTIME_START_SECONDS: dict[Device, float] = {"cpu": 10.0, "gpu": 30.0}
FASTEST_RUNTIME_START_SECONDS: dict[Device, float] = {"cpu": 2.0, "gpu": 8.0}

# Seconds of the warm-up forward passes after the weights are loaded (kernel selection and
# allocator growth on a GPU). Estimates, not measurements of a specific model.
WARMUP_SECONDS: dict[Device, float] = {"cpu": 5.0, "gpu": 15.0}
FASTEST_WARMUP_SECONDS: dict[Device, float] = {"cpu": 1.0, "gpu": 3.0}

# Default weight read throughput: network block storage (cloud disks have baselines of
# about 125 to 250 MB/s) reading the image layer. Pessimistic on purpose: a long budget
# is free when loads succeed. The fastest plausible read is a local NVMe disk or page cache.
DEFAULT_LOAD_THROUGHPUT = 200 * MIB
FASTEST_LOAD_THROUGHPUT = 2 * GIB

# sha256 over every weight file when the server verifies in full: about 400 MiB/s on one
# core without SHA instructions, about 1.5 GiB/s with them (estimates).
HASH_THROUGHPUT = 400 * MIB
FASTEST_HASH_THROUGHPUT = 1536 * MIB

# A gateway to an external backend loads no weights: it starts and checks the backend.
GATEWAY_START_SECONDS = 10.0
GATEWAY_FASTEST_START_SECONDS = 1.0

MIN_STARTUP_BUDGET_SECONDS = 60
GATEWAY_MIN_STARTUP_BUDGET_SECONDS = 30
MAX_STARTUP_BUDGET_SECONDS = 6 * 3600
WARN_STARTUP_BUDGET_SECONDS = 3600
BUDGET_STEP_SECONDS = 5
TARGET_STARTUP_PROBES = 30
MIN_STARTUP_PERIOD_SECONDS = 2
MAX_STARTUP_PERIOD_SECONDS = 60
STARTUP_TIMEOUT_SECONDS = 5

# Releasing the model at shutdown: freeing host or device memory, plus unmapping the
# weights at about 10 GiB/s (estimate).
RELEASE_SECONDS: dict[Device, float] = {"cpu": 2.0, "gpu": 5.0}
RELEASE_THROUGHPUT = 10 * GIB
MIN_GRACE_MARGIN_SECONDS = 5
GRACE_MARGIN_FRACTION = 0.1

READINESS_PATH = "/readyz"
LIVENESS_PATH = "/livez"


@dataclass(frozen=True)
class TuningInputs:
    """What the tuning depends on; every field has the operator's default."""

    weight_bytes: int = 0
    device: Device = "cpu"
    gpu_count: int = 0
    load_throughput: int | None = None  # bytes per second; None means the default
    verify: Verification = "full"
    max_request_seconds: int = 30
    drain_delay_seconds: int = 5
    queue_drain_seconds: int = 10
    jobs: bool = False  # the background job queue is on (spec.jobs present)
    drain_mode: DrainMode = "server"
    gateway: bool = False
    startup_budget_floor_seconds: int = 0


@dataclass(frozen=True)
class Probe:
    """An HTTP GET probe of the server container, in Kubernetes terms."""

    path: str
    initial_delay_seconds: int
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int
    success_threshold: int = 1

    @property
    def budget_seconds(self) -> int:
        """Seconds from container start until the kubelet gives up on this probe."""
        return self.initial_delay_seconds + self.period_seconds * self.failure_threshold


@dataclass(frozen=True)
class ServerDeadlines:
    """The server's own settings, matching the probes and the grace period (seconds).

    ``queue_drain_timeout_seconds`` is None when the job queue is off: the server then has
    no queue to drain, and the operator leaves ``KILN_QUEUE_DRAIN_TIMEOUT`` unset.
    """

    drain_delay_seconds: int
    request_timeout_seconds: int
    queue_drain_timeout_seconds: int | None
    load_timeout_seconds: int


@dataclass(frozen=True)
class Tuning:
    """The computed probes, grace period and server deadlines, with their inputs."""

    inputs: TuningInputs
    load_throughput: int
    estimated_load_seconds: float
    fastest_load_seconds: float
    startup: Probe
    readiness: Probe
    liveness: Probe
    termination_grace_period_seconds: int
    pre_stop_sleep_seconds: int
    server: ServerDeadlines
    warnings: tuple[str, ...] = field(default=())

    @property
    def startup_budget_seconds(self) -> int:
        return self.startup.budget_seconds


def format_duration(seconds: int) -> str:
    """Return a duration the way kubectl prints ages: ``45s``, ``19m``, ``2h5m``."""
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m" + (f"{seconds % 60}s" if seconds % 60 else "")
    minutes = (seconds % 3600) // 60
    return f"{seconds // 3600}h" + (f"{minutes}m" if minutes else "")


def estimate_load_seconds(inputs: TuningInputs) -> tuple[float, float, int]:
    """Return (estimated, fastest plausible) load seconds and the throughput used."""
    throughput = inputs.load_throughput or DEFAULT_LOAD_THROUGHPUT
    if inputs.gateway:
        return GATEWAY_START_SECONDS, GATEWAY_FASTEST_START_SECONDS, throughput
    size = inputs.weight_bytes
    estimate = RUNTIME_START_SECONDS[inputs.device] + size / throughput
    estimate += WARMUP_SECONDS[inputs.device]
    fastest = FASTEST_RUNTIME_START_SECONDS[inputs.device]
    fastest += size / max(throughput, FASTEST_LOAD_THROUGHPUT)
    fastest += FASTEST_WARMUP_SECONDS[inputs.device]
    if inputs.verify == "full":
        estimate += size / HASH_THROUGHPUT
        fastest += size / FASTEST_HASH_THROUGHPUT
    return estimate, fastest, throughput


def startup_probe(estimate: float, fastest: float, inputs: TuningInputs) -> tuple[Probe, bool]:
    """Return the startup probe and whether the budget hit the upper bound."""
    minimum = GATEWAY_MIN_STARTUP_BUDGET_SECONDS if inputs.gateway else MIN_STARTUP_BUDGET_SECONDS
    target = max(2 * estimate, minimum, inputs.startup_budget_floor_seconds)
    budget = BUDGET_STEP_SECONDS * math.ceil(target / BUDGET_STEP_SECONDS)
    capped = budget > MAX_STARTUP_BUDGET_SECONDS
    budget = min(budget, MAX_STARTUP_BUDGET_SECONDS)

    # The initial delay never exceeds half the budget, so at least half is left for probes.
    initial_delay = min(math.floor(fastest), budget // 2)
    window = budget - initial_delay
    period = math.ceil(window / TARGET_STARTUP_PROBES)
    period = max(MIN_STARTUP_PERIOD_SECONDS, min(MAX_STARTUP_PERIOD_SECONDS, period))
    threshold = math.ceil(window / period)

    # The initial delay absorbs the rounding, so that the budget is exactly `budget` and
    # stays monotone in the model size: it moves by less than one period.
    initial_delay = budget - period * threshold
    if initial_delay < 0:
        threshold -= 1
        initial_delay += period
    probe = Probe(READINESS_PATH, initial_delay, period, STARTUP_TIMEOUT_SECONDS, threshold)
    return probe, capped


def readiness_probe() -> Probe:
    """Probe /readyz often and drop the pod after two failures, so that a draining or
    overloaded pod leaves the Service endpoints within about six seconds."""
    return Probe(READINESS_PATH, 0, 3, 2, 2)


def liveness_probe() -> Probe:
    """Probe /livez with no initial delay, because the startup probe gates it: the kubelet
    starts liveness probes only after the startup probe passed."""
    return Probe(LIVENESS_PATH, 0, 10, 5, 3)


def job_drain_seconds(inputs: TuningInputs) -> int:
    """Return the worst-case seconds of the job-queue drain at shutdown (0 without jobs).

    The workers take queued jobs until the queue-drain deadline. A job still running then
    gets up to the request timeout more before it goes back to the store.
    """
    if not inputs.jobs:
        return 0
    return inputs.queue_drain_seconds + inputs.max_request_seconds


def release_seconds(inputs: TuningInputs) -> float:
    """Return the estimated seconds to release the model at shutdown."""
    release = 0.0 if inputs.gateway else RELEASE_SECONDS[inputs.device]
    return release + inputs.weight_bytes / RELEASE_THROUGHPUT


def shutdown_seconds(inputs: TuningInputs) -> float:
    """Return the seconds the server may need after SIGTERM before it exits, worst case.

    In order: the drain delay, in-flight HTTP requests (up to the request timeout), the job
    queue (see ``job_drain_seconds``) and the model release.
    """
    return (
        inputs.drain_delay_seconds
        + inputs.max_request_seconds
        + job_drain_seconds(inputs)
        + release_seconds(inputs)
    )


def grace_period_seconds(inputs: TuningInputs) -> int:
    work = shutdown_seconds(inputs)
    margin = max(MIN_GRACE_MARGIN_SECONDS, GRACE_MARGIN_FRACTION * work)
    return math.ceil(work + margin)


def load_timeout_seconds(startup: Probe) -> int:
    """Return a server load timeout that ends before the kubelet's last startup probe."""
    budget = startup.budget_seconds
    headroom = max(startup.period_seconds + startup.timeout_seconds, math.ceil(0.05 * budget))
    return max(1, budget - headroom)


def tune(inputs: TuningInputs) -> Tuning:
    """Compute probes, grace period, preStop action and server deadlines for ``inputs``."""
    estimate, fastest, throughput = estimate_load_seconds(inputs)
    startup, capped = startup_probe(estimate, fastest, inputs)

    warnings: list[str] = []
    if capped:
        warnings.append(
            f"The startup budget is capped at {MAX_STARTUP_BUDGET_SECONDS} s, less than twice "
            f"the estimated load of {estimate:.0f} s; set spec.model.loadThroughput if the "
            "node reads weights faster."
        )
    if startup.budget_seconds > WARN_STARTUP_BUDGET_SECONDS:
        warnings.append(
            f"The startup budget is {startup.budget_seconds} s, over an hour: a pod that "
            "hangs while loading is detected only that late."
        )

    prestop = inputs.drain_delay_seconds if inputs.drain_mode == "preStopSleep" else 0
    server = ServerDeadlines(
        drain_delay_seconds=inputs.drain_delay_seconds - prestop,
        request_timeout_seconds=inputs.max_request_seconds,
        queue_drain_timeout_seconds=inputs.queue_drain_seconds if inputs.jobs else None,
        load_timeout_seconds=load_timeout_seconds(startup),
    )
    return Tuning(
        inputs=inputs,
        load_throughput=throughput,
        estimated_load_seconds=round(estimate, 1),
        fastest_load_seconds=round(fastest, 1),
        startup=startup,
        readiness=readiness_probe(),
        liveness=liveness_probe(),
        termination_grace_period_seconds=grace_period_seconds(inputs),
        pre_stop_sleep_seconds=prestop,
        server=server,
        warnings=tuple(warnings),
    )
