"""Serve custom resources from their CustomResourceDefinition.

kmock 0.8 stores a posted CRD as a plain object and never serves the resource it defines,
so discovery, schema validation, the scale subresource and ``kubectl get`` columns were
missing. ``CustomResource`` contains what the emulator needs from one served CRD version.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from kmock import ResourceInfo, resource

ALL_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}


@dataclass(frozen=True)
class ScalePaths:
    """The JSON paths of a scale subresource, as ``.spec.replicas``-style strings."""

    spec_replicas: str
    status_replicas: str
    label_selector: str | None


@dataclass
class CustomResource:
    """One served version of a CRD: discovery data, schema, scale paths, printer columns."""

    resource: resource
    info: ResourceInfo
    schema: dict[str, Any]
    scale: ScalePaths | None
    printer_columns: list[dict[str, Any]] = field(default_factory=list)


def custom_resources_from_crd(crd: dict[str, Any]) -> list[CustomResource]:
    """Return one ``CustomResource`` per served version of a CRD object."""
    spec = crd["spec"]
    names = spec["names"]
    served: list[CustomResource] = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = version.get("subresources", {})
        scale_spec = subresources.get("scale")
        scale = None
        if scale_spec is not None:
            scale = ScalePaths(
                spec_replicas=scale_spec["specReplicasPath"],
                status_replicas=scale_spec["statusReplicasPath"],
                label_selector=scale_spec.get("labelSelectorPath"),
            )
        info = ResourceInfo(
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            kind=names["kind"],
            singular=names.get("singular", names["kind"].lower()),
            verbs=ALL_VERBS,
            shortnames=set(names.get("shortNames", [])),
            categories=set(names.get("categories", [])),
            subresources=set(subresources),
        )
        served.append(CustomResource(
            resource=resource(spec["group"], version["name"], names["plural"]),
            info=info,
            schema=version.get("schema", {}).get("openAPIV3Schema", {}),
            scale=scale,
            printer_columns=version.get("additionalPrinterColumns", []),
        ))
    return served


def read_path(obj: dict[str, Any], path: str) -> Any:
    """Read a JSON path such as ``.status.replicas``, or return None where a key is missing."""
    value: Any = obj
    for key in path.strip(".").split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def write_path(obj: dict[str, Any], path: str, value: Any) -> None:
    keys = path.strip(".").split(".")
    target = obj
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def scale_view(obj: dict[str, Any], paths: ScalePaths) -> dict[str, Any]:
    """Return the ``autoscaling/v1`` Scale object the API server serves for ``obj``."""
    metadata = obj["metadata"]
    status: dict[str, Any] = {"replicas": read_path(obj, paths.status_replicas) or 0}
    if paths.label_selector is not None:
        selector = read_path(obj, paths.label_selector)
        if selector:
            status["selector"] = selector
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {key: metadata[key] for key in
                     ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if key in metadata},
        "spec": {"replicas": read_path(obj, paths.spec_replicas) or 0},
        "status": status,
    }


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int((datetime.datetime.now(datetime.UTC) - created).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def printer_table(custom: CustomResource, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Render items as the ``meta.k8s.io/v1`` Table that ``kubectl get`` requests."""
    columns = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                "description": "Name of the object."}]
    for column in custom.printer_columns:
        columns.append({
            "name": column["name"],
            "type": column.get("type", "string"),
            "format": column.get("format", ""),
            "priority": column.get("priority", 0),
            "description": column.get("description", ""),
        })
    rows = []
    for item in items:
        cells: list[Any] = [item["metadata"]["name"]]
        for column in custom.printer_columns:
            value = read_path(item, column["jsonPath"])
            if column.get("type") == "date":
                value = _age(value)
            cells.append(value)
        rows.append({"cells": cells, "object": {
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": item["metadata"],
        }})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": columns,
        "rows": rows,
    }
