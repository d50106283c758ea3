"""The Deployment of a ModelService, and the hash that detects a changed pod template."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kiln_operator.builders.metadata import (
    STARTUP_BUDGET_ANNOTATION,
    TEMPLATE_HASH_ANNOTATION,
    Owner,
    object_metadata,
    selector_labels,
)
from kiln_operator.builders.pod import component, pod_template
from kiln_operator.spec import ModelServiceSpec
from kiln_operator.tuning import Tuning

# The Deployment reports ProgressDeadlineExceeded only after the startup budget plus this
# many seconds, so that a slow but healthy load is not reported as a failed rollout.
PROGRESS_DEADLINE_MARGIN_SECONDS = 120


def template_hash(template: dict[str, Any]) -> str:
    """Return a short stable hash of a pod template as the operator rendered it."""
    encoded = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def strategy(spec: ModelServiceSpec) -> dict[str, Any]:
    """Return Recreate for a ReadWriteOnce job volume, else a rollout that keeps capacity.

    A new pod cannot mount the SQLite volume while the old pod uses it, so that case stops
    the old pod first. Otherwise a new pod loads before an old one stops (``maxSurge: 1``),
    which needs room for one extra pod, including its GPUs.
    """
    if spec.jobs is not None and spec.jobs.persistent_volume:
        return {"type": "Recreate", "rollingUpdate": None}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def deployment(owner: Owner, spec: ModelServiceSpec, tuning: Tuning) -> dict[str, Any]:
    """Return the desired Deployment; None marks optional fields to remove when patching."""
    template = pod_template(owner, spec, tuning)
    metadata = object_metadata(owner, owner.name, component(spec))
    metadata["annotations"] = {
        TEMPLATE_HASH_ANNOTATION: template_hash(template),
        STARTUP_BUDGET_ANNOTATION: str(tuning.startup_budget_seconds),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector_labels(owner)},
            "strategy": strategy(spec),
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": tuning.startup_budget_seconds
            + PROGRESS_DEADLINE_MARGIN_SECONDS,
            "template": template,
        },
    }
