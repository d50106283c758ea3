"""Status conditions in the Kubernetes form, and the phase summarised from them.

A condition's ``lastTransitionTime`` changes only when its ``status`` flips, as the
Kubernetes API conventions require; a new reason or message keeps the old time.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]
READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]],
    kind: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """Return ``conditions`` with the condition of type ``kind`` set (a new list)."""
    updated = [dict(condition) for condition in conditions if condition.get("type") != kind]
    previous = next((c for c in conditions if c.get("type") == kind), None)
    transition = now or now_rfc3339()
    if previous is not None and previous.get("status") == status:
        transition = previous.get("lastTransitionTime", transition)
    updated.append({
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    })
    order = {READY: 0, PROGRESSING: 1, DEGRADED: 2}
    return sorted(updated, key=lambda condition: order.get(condition["type"], 3))


def condition_status(conditions: list[dict[str, Any]], kind: str) -> str | None:
    for condition in conditions:
        if condition.get("type") == kind:
            status: str = condition.get("status", "Unknown")
            return status
    return None


def phase(conditions: list[dict[str, Any]]) -> str:
    """Summarise the conditions as Degraded, Ready, Progressing or Pending, in that order."""
    if condition_status(conditions, DEGRADED) == "True":
        return "Degraded"
    if condition_status(conditions, READY) == "True":
        return "Ready"
    if condition_status(conditions, PROGRESSING) == "True":
        return "Progressing"
    return "Pending"
