"""Render a ``Tuning`` as the pod-spec fragment the operator puts into the Deployment.

The fragment is a partial PodSpec with the Kubernetes field names: the grace period and
one container (``server``) with the three probes, the lifecycle hooks and the environment
variables that carry the server's deadlines. ``kiln tune`` prints exactly this fragment,
so that plain manifests and Helm values get the numbers the operator would use.
"""

from __future__ import annotations

from typing import Any

from kiln_operator.tuning import Probe, Tuning

CONTAINER_NAME = "server"
CONTAINER_PORT = 8000
PORT_NAME = "http"


def probe_fields(probe: Probe) -> dict[str, Any]:
    return {
        "httpGet": {"path": probe.path, "port": CONTAINER_PORT},
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
        "successThreshold": probe.success_threshold,
    }


def deadline_env(tuning: Tuning) -> list[dict[str, str]]:
    """Return the server settings that must match the probes and the grace period.

    ``KILN_QUEUE_DRAIN_TIMEOUT`` is left out when the job queue is off, because the grace
    period then includes no queue drain.
    """
    server = tuning.server
    values = {
        "KILN_DRAIN_DELAY": server.drain_delay_seconds,
        "KILN_REQUEST_TIMEOUT": server.request_timeout_seconds,
        "KILN_QUEUE_DRAIN_TIMEOUT": server.queue_drain_timeout_seconds,
        "KILN_LOAD_TIMEOUT": server.load_timeout_seconds,
    }
    return [{"name": name, "value": str(value)} for name, value in values.items()
            if value is not None]


def lifecycle(tuning: Tuning) -> dict[str, Any]:
    """Return the container lifecycle: a preStop sleep in preStopSleep drain mode, else none."""
    if tuning.pre_stop_sleep_seconds <= 0:
        return {}
    return {"preStop": {"sleep": {"seconds": tuning.pre_stop_sleep_seconds}}}


def container_fragment(tuning: Tuning) -> dict[str, Any]:
    return {
        "name": CONTAINER_NAME,
        "startupProbe": probe_fields(tuning.startup),
        "readinessProbe": probe_fields(tuning.readiness),
        "livenessProbe": probe_fields(tuning.liveness),
        "lifecycle": lifecycle(tuning),
        "env": deadline_env(tuning),
    }


def pod_fragment(tuning: Tuning) -> dict[str, Any]:
    """Return the partial PodSpec: grace period plus the server container's tuned fields."""
    return {
        "terminationGracePeriodSeconds": tuning.termination_grace_period_seconds,
        "containers": [container_fragment(tuning)],
    }
