"""Learn startup times from a ModelService's pods and raise the startup budget from them.

The time to ready of a pod is the time from its server container's start to the moment its
``Ready`` condition became true. The budget floor is raised to at least twice what was
observed when a pod needs more than half of its startup budget, or when its startup probe
kills the container. A startup-probe kill shows as a run that ended after about the whole
budget while the container was not ready. A slow but healthy pod only records the new
floor, which the next rollout applies. A killed pod requests the new budget at once, since
its pods are failing. Pure functions: pod and status dicts in, decisions out.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any, Literal

from kiln_operator.fragment import CONTAINER_NAME

RECENT_PODS = 10
BUDGET_STEP_SECONDS = 5

Outcome = Literal["Ready", "StartupProbeKilled"]


@dataclass(frozen=True)
class Observation:
    """One container run of one pod: how long it took to become ready, or to be killed."""

    pod: str
    started_at: str
    seconds: float
    outcome: Outcome
    budget_seconds: int


@dataclass(frozen=True)
class Decision:
    """The learning status to store and, when the floor rose, why and how urgently."""

    learning: dict[str, Any]
    raised_to: int | None
    reason: str
    urgent: bool


def _time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _startup_probe(pod: dict[str, Any]) -> dict[str, Any]:
    for container in pod.get("spec", {}).get("containers", []):
        if container.get("name") == CONTAINER_NAME:
            probe: dict[str, Any] = container.get("startupProbe") or {}
            return probe
    return {}


def observe_pod(pod: dict[str, Any]) -> list[Observation]:
    """Return the observations a pod's status allows: a killed run and/or a ready run."""
    probe = _startup_probe(pod)
    period = probe.get("periodSeconds", 10)
    budget = probe.get("initialDelaySeconds", 0) + period * probe.get("failureThreshold", 3)
    slack = period + probe.get("timeoutSeconds", 1)
    name = pod.get("metadata", {}).get("name", "")
    status = pod.get("status", {})
    container = next((c for c in status.get("containerStatuses", [])
                      if c.get("name") == CONTAINER_NAME), None)
    if container is None:
        return []

    observations: list[Observation] = []
    terminated = (container.get("lastState") or {}).get("terminated") or {}
    if container.get("restartCount", 0) > 0 and terminated.get("startedAt") and \
            terminated.get("finishedAt"):
        ran = (_time(terminated["finishedAt"]) - _time(terminated["startedAt"])).total_seconds()
        if budget - slack <= ran <= budget + 2 * slack:
            observations.append(Observation(name, terminated["startedAt"], ran,
                                            "StartupProbeKilled", budget))

    started = ((container.get("state") or {}).get("running") or {}).get("startedAt")
    conditions = status.get("conditions", [])
    ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    if started and ready.get("status") == "True" and ready.get("lastTransitionTime"):
        seconds = (_time(ready["lastTransitionTime"]) - _time(started)).total_seconds()
        if seconds >= 0:
            observations.append(Observation(name, started, seconds, "Ready", budget))
    return observations


def _round_up(seconds: float) -> int:
    return BUDGET_STEP_SECONDS * math.ceil(seconds / BUDGET_STEP_SECONDS)


def learn(learning: dict[str, Any], observation: Observation) -> Decision | None:
    """Return the updated learning status, or None when the run was already counted."""
    recent: list[dict[str, Any]] = list(learning.get("recentPods", []))
    for seen in recent:
        if (seen.get("pod"), seen.get("startedAt"), seen.get("outcome")) == (
                observation.pod, observation.started_at, observation.outcome):
            return None
    recent.append({"pod": observation.pod, "startedAt": observation.started_at,
                   "seconds": round(observation.seconds, 1), "outcome": observation.outcome})
    recent = recent[-RECENT_PODS:]
    updated = dict(learning, recentPods=recent)
    ready_times = [entry["seconds"] for entry in recent if entry["outcome"] == "Ready"]
    if observation.outcome == "Ready":
        updated["latestTimeToReadySeconds"] = round(observation.seconds, 1)
    if ready_times:
        updated["maxTimeToReadySeconds"] = max(ready_times)

    floor = int(learning.get("startupBudgetFloorSeconds", 0))
    budget = observation.budget_seconds
    if observation.outcome == "StartupProbeKilled":
        wanted = _round_up(2 * max(observation.seconds, budget))
        reason = (f"pod {observation.pod} was killed by its startup probe after "
                  f"{observation.seconds:.0f} s of its {budget} s startup budget")
    elif observation.seconds > budget / 2:
        wanted = _round_up(2 * observation.seconds)
        reason = (f"pod {observation.pod} took {observation.seconds:.0f} s to become ready, "
                  f"more than half of its {budget} s startup budget")
    else:
        return Decision(updated, None, "", urgent=False)
    if wanted <= floor:
        return Decision(updated, None, "", urgent=False)
    updated["startupBudgetFloorSeconds"] = wanted
    updated["reason"] = reason
    return Decision(updated, wanted, reason, urgent=observation.outcome == "StartupProbeKilled")
