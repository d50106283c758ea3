"""Apply the per-probe overrides of a spec on top of the computed tuning.

An override wins over the computed value field by field. The server's load timeout then
follows the effective startup budget, so that it still ends a stuck load before the kubelet
does. A grace-period override shorter than the shutdown the server needs is rejected,
because the kubelet would SIGKILL the server before its own deadlines end.
"""

from __future__ import annotations

import dataclasses
import math

from kiln_operator.spec import InvalidSpec
from kiln_operator.tuning import Probe, Tuning, load_timeout_seconds, shutdown_seconds


def _override(probe: Probe, values: dict[str, int]) -> Probe:
    return Probe(
        path=probe.path,
        initial_delay_seconds=values.get("initialDelaySeconds", probe.initial_delay_seconds),
        period_seconds=values.get("periodSeconds", probe.period_seconds),
        timeout_seconds=values.get("timeoutSeconds", probe.timeout_seconds),
        failure_threshold=values.get("failureThreshold", probe.failure_threshold),
        success_threshold=probe.success_threshold,
    )


def apply_overrides(
    tuning: Tuning, probes: dict[str, dict[str, int]], grace: int | None
) -> tuple[Tuning, list[str]]:
    """Return the tuning with overrides applied and the overridden field names."""
    overridden: list[str] = []
    for probe, values in probes.items():
        overridden += [f"{probe}Probe.{key}" for key in values]
    startup = _override(tuning.startup, probes.get("startup", {}))
    readiness = _override(tuning.readiness, probes.get("readiness", {}))
    liveness = _override(tuning.liveness, probes.get("liveness", {}))

    grace_seconds = tuning.termination_grace_period_seconds
    if grace is not None:
        needed = math.ceil(shutdown_seconds(tuning.inputs))
        if grace < needed:
            inputs = tuning.inputs
            jobs = ""
            if inputs.jobs:
                jobs = (f" + queue drain {inputs.queue_drain_seconds} s + running jobs "
                        f"{inputs.max_request_seconds} s")
            raise InvalidSpec(
                f"spec.probes.terminationGracePeriodSeconds: {grace} s is shorter than the "
                f"{needed} s the server may need to shut down (drain delay "
                f"{inputs.drain_delay_seconds} s + longest request {inputs.max_request_seconds} s"
                f"{jobs} + model release); raise it to at least {needed}, or lower the "
                "spec.timing values."
            )
        grace_seconds = grace
        overridden.append("terminationGracePeriodSeconds")

    server = dataclasses.replace(tuning.server, load_timeout_seconds=load_timeout_seconds(startup))
    effective = dataclasses.replace(
        tuning,
        startup=startup,
        readiness=readiness,
        liveness=liveness,
        termination_grace_period_seconds=grace_seconds,
        server=server,
    )
    return effective, overridden
