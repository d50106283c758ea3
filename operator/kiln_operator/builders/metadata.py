"""Names, labels and owner references shared by every object a ModelService owns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

API_GROUP = "kiln.dev"
API_VERSION = "kiln.dev/v1alpha1"
KIND = "ModelService"
PLURAL = "modelservices"

MANAGED_BY = "kiln-operator"
OWNER_LABEL = "kiln.dev/modelservice"
TEMPLATE_HASH_ANNOTATION = "kiln.dev/pod-template-hash"
STARTUP_BUDGET_ANNOTATION = "kiln.dev/startup-budget-seconds"


@dataclass(frozen=True)
class Owner:
    """The ModelService that owns the objects being built."""

    name: str
    namespace: str
    uid: str

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Owner:
        metadata = body["metadata"]
        return cls(metadata["name"], metadata["namespace"], metadata["uid"])

    def reference(self) -> dict[str, Any]:
        """Return the controller owner reference; children live in the owner's namespace."""
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def selector_labels(owner: Owner) -> dict[str, str]:
    """Return the labels that select the pods of one ModelService (never changed later)."""
    return {"app.kubernetes.io/name": "kiln", OWNER_LABEL: owner.name}


def selector_string(owner: Owner) -> str:
    return ",".join(f"{key}={value}" for key, value in selector_labels(owner).items())


def common_labels(owner: Owner, component: str) -> dict[str, str]:
    """Return the recommended app.kubernetes.io labels plus the owner label.

    ``app.kubernetes.io/version`` is left out: pods carry these labels, and a label that
    changes with an upgrade of the operator would roll every model pod.
    """
    return {
        **selector_labels(owner),
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "kiln",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def object_metadata(owner: Owner, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": common_labels(owner, component),
        "ownerReferences": [owner.reference()],
    }
