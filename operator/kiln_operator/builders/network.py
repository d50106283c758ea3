"""The Service, PodDisruptionBudget and job-store PersistentVolumeClaim of a ModelService."""

from __future__ import annotations

from typing import Any

from kiln_operator.builders.metadata import Owner, object_metadata, selector_labels
from kiln_operator.builders.pod import component
from kiln_operator.fragment import PORT_NAME
from kiln_operator.spec import ModelServiceSpec


def service(owner: Owner, spec: ModelServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(owner, owner.name, component(spec)),
        "spec": {
            "type": spec.service_type,
            "selector": selector_labels(owner),
            "ports": [{"name": PORT_NAME, "port": spec.service_port,
                       "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }


def disruption_budget(owner: Owner, spec: ModelServiceSpec) -> dict[str, Any] | None:
    """Return a PodDisruptionBudget that keeps all but one pod, or None for one replica.

    ``unhealthyPodEvictionPolicy: AlwaysAllow`` lets a node drain evict pods that are still
    loading or failing, which would otherwise block it.
    """
    if spec.replicas <= 1:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_metadata(owner, owner.name, component(spec)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(owner)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def jobs_volume_claim(owner: Owner, spec: ModelServiceSpec) -> dict[str, Any] | None:
    """Return the claim for the SQLite job store, or None when the store needs none."""
    if spec.jobs is None or not spec.jobs.persistent_volume:
        return None
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.jobs.volume_size}},
    }
    if spec.jobs.storage_class is not None:
        claim_spec["storageClassName"] = spec.jobs.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": object_metadata(owner, f"{owner.name}-jobs", "job-store"),
        "spec": claim_spec,
    }
