"""Every object the chart renders passes Kubernetes' own OpenAPI schemas, strictly.

kubernetes-validate checks each object against the JSON schemas generated from the API server's
OpenAPI document of one Kubernetes version; strict mode also rejects unknown fields. The chart
supports 1.30 to 1.33. ModelServices are left to the CRD schema test, because no built-in schema
knows them.
"""

from __future__ import annotations

from typing import Any

import helm_python
import kubernetes_validate
import pytest
from chart_manifests import KUBERNETES_VERSIONS, ci_values, ci_values_files, render_objects

SCENARIOS = [pytest.param("", id="default-values")] + [
    pytest.param(name, id=name) for name in ci_values_files()
]


def validation_failures(objects: list[dict[str, Any]], version: str) -> list[str]:
    failures = []
    for item in objects:
        if item["kind"] == "ModelService":
            continue
        try:
            kubernetes_validate.validate(item, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            location = "/".join(str(part) for part in error.path)
            failures.append(
                f"{item['kind']} {item['metadata']['name']}: {error.message} at {location!r}"
            )
    return failures


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values_file", SCENARIOS)
def test_objects_valid(chart: helm_python.Chart, values_file: str, version: str) -> None:
    values = ci_values(values_file) if values_file else {}
    objects = render_objects(chart, values)

    assert objects
    assert validation_failures(objects, version) == []


def test_validation_can_fail(chart: helm_python.Chart) -> None:
    objects = render_objects(chart)
    deployment = next(item for item in objects if item["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["probes"] = {}

    assert validation_failures([deployment], KUBERNETES_VERSIONS[0]) == [
        f"Deployment {deployment['metadata']['name']}: Additional properties are not allowed"
        " ('probes' was unexpected) at 'spec/template/spec/containers/0'"
    ]
