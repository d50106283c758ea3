"""Render the kiln chart in process with Helm's own Go code (helm-python-sdk) and parse it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPOSITORY_ROOT / "helm" / "kiln"
CI_VALUES_DIR = CHART_DIR / "ci"
RELEASE_NAME = "kiln"
RELEASE_NAMESPACE = "kiln-system"

# The Kubernetes minor versions the chart supports; Chart.yaml's kubeVersion starts at the first.
KUBERNETES_VERSIONS = ("1.30", "1.31", "1.32", "1.33")


def ci_values(file_name: str) -> dict[str, Any]:
    """Load one example values file from the chart's ci/ folder."""
    loaded = yaml.safe_load((CI_VALUES_DIR / file_name).read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{file_name!r} in {CI_VALUES_DIR} must contain a mapping of values.")
    return loaded


def ci_values_files() -> list[str]:
    """Return the names of the chart's example values files, sorted."""
    return sorted(path.name for path in CI_VALUES_DIR.glob("*-values.yaml"))


def render(chart: helm_python.Chart, values: dict[str, Any] | None = None) -> dict[str, str]:
    """Render the chart as `helm install kiln --namespace kiln-system` would."""
    return chart.render(
        values or {}, name=RELEASE_NAME, namespace=RELEASE_NAMESPACE, is_install=True
    )


def render_objects(
    chart: helm_python.Chart, values: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Render the chart and return every Kubernetes object in it, helm test hooks included."""
    objects = []
    for template, manifest in sorted(render(chart, values).items()):
        if template.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(manifest):
            if document is not None:
                objects.append(document)
    return objects


def objects_of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Return the objects of one kind, in rendering order."""
    return [item for item in objects if item["kind"] == kind]


def only_object(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Return the single object of a kind; fail when there are none or several."""
    found = objects_of_kind(objects, kind)
    if len(found) != 1:
        names = [item["metadata"]["name"] for item in found]
        raise AssertionError(f"Expected exactly one {kind}, the chart rendered {names!r}.")
    return found[0]
