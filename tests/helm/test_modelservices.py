"""ModelService objects from the `modelServices` value, checked against the CRD's own schema.

The CRD check uses the emulator's admission code: the structural openAPIV3Schema (types,
enums, bounds, patterns, required fields, unknown fields) and the x-kubernetes-validations CEL
rules, as the API server admits a custom resource.
"""

from __future__ import annotations

from typing import Any

import helm_python
import pytest
import yaml
from chart_manifests import (
    CHART_DIR,
    RELEASE_NAME,
    RELEASE_NAMESPACE,
    ci_values,
    ci_values_files,
    objects_of_kind,
    render_objects,
)
from emulator.admission import admit

CRD = yaml.safe_load((CHART_DIR / "crds" / "modelservices.kiln.dev.yaml").read_text())
SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
MINILM_SPEC = {"image": "registry.example.com/kiln-server:0.1.0", "model": {"size": 90868376}}


def admission_problems(model_service: dict[str, Any]) -> list[str]:
    result = admit(model_service, SCHEMA)
    problems: list[str] = list(result.errors)
    problems += [f"{path}: unknown field" for path in result.unknown_fields]
    return problems


def model_services(chart: helm_python.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    return objects_of_kind(render_objects(chart, values), "ModelService")


def test_two_model_services_render(chart: helm_python.Chart) -> None:
    rendered = model_services(chart, ci_values("model-services-values.yaml"))
    where = [(item["metadata"]["namespace"], item["metadata"]["name"]) for item in rendered]

    assert where == [(RELEASE_NAMESPACE, "minilm"), ("inference", "llama-70b")]


def test_spec_passes_through(chart: helm_python.Chart) -> None:
    values = ci_values("model-services-values.yaml")
    rendered = model_services(chart, values)

    for item, listed in zip(rendered, values["modelServices"], strict=True):
        assert item["apiVersion"] == "kiln.dev/v1alpha1"
        assert item["spec"] == listed["spec"]


def test_labels_merge_chart_labels(chart: helm_python.Chart) -> None:
    minilm = model_services(chart, ci_values("model-services-values.yaml"))[0]
    labels = minilm["metadata"]["labels"]

    assert labels["team"] == "search"
    assert labels["app.kubernetes.io/instance"] == RELEASE_NAME
    assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_annotations_pass_through(chart: helm_python.Chart) -> None:
    llama = model_services(chart, ci_values("model-services-values.yaml"))[1]

    assert llama["metadata"]["annotations"] == {"kiln.dev/owner": "platform-team"}


@pytest.mark.parametrize("file_name", [pytest.param(name, id=name) for name in ci_values_files()])
def test_crd_schema_admits(chart: helm_python.Chart, file_name: str) -> None:
    for model_service in model_services(chart, ci_values(file_name)):
        assert admission_problems(model_service) == []


def test_crd_schema_check_can_fail(chart: helm_python.Chart) -> None:
    spec = {**MINILM_SPEC, "replicas": -1, "device": {"type": "cpu", "count": 2}}
    rendered = model_services(chart, {"modelServices": [{"name": "minilm", "spec": spec}]})

    assert sorted(admission_problems(rendered[0])) == [
        'spec.device: Invalid value: "object": device.count applies to GPUs only',
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or"
        " equal to 0",
    ]


def test_duplicate_name_rejected(chart: helm_python.Chart) -> None:
    twice = [{"name": "minilm", "spec": MINILM_SPEC}, {"name": "minilm", "spec": MINILM_SPEC}]

    with pytest.raises(helm_python.HelmRenderError) as raised:
        render_objects(chart, {"modelServices": twice})

    assert f'modelServices lists "{RELEASE_NAMESPACE}/minilm" twice' in str(raised.value)


def test_same_name_other_namespace(chart: helm_python.Chart) -> None:
    listed = [
        {"name": "minilm", "spec": MINILM_SPEC},
        {"name": "minilm", "namespace": "staging", "spec": MINILM_SPEC},
    ]

    assert len(model_services(chart, {"modelServices": listed})) == 2


def test_unwatched_namespace_rejected(chart: helm_python.Chart) -> None:
    values = {
        "watchNamespaces": ["team-a"],
        "modelServices": [{"name": "minilm", "namespace": "team-b", "spec": MINILM_SPEC}],
    }

    with pytest.raises(helm_python.HelmRenderError) as raised:
        render_objects(chart, values)

    assert 'modelServices entry "minilm" is in namespace "team-b"' in str(raised.value)
    assert "watchNamespaces (team-a) leaves out" in str(raised.value)


def test_no_model_services_by_default(chart: helm_python.Chart) -> None:
    assert model_services(chart, {}) == []
