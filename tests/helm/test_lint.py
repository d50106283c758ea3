"""Strict `helm lint` of the chart, with its default values and each example values file."""

from __future__ import annotations

import tomllib
from typing import Any

import helm_python
import pytest
from chart_manifests import (
    CHART_DIR,
    KUBERNETES_VERSIONS,
    REPOSITORY_ROOT,
    ci_values,
    ci_values_files,
)

# Helm reports severity 1 (info) for recommendations such as "icon is recommended"; 2 is a
# warning, which strict linting treats as an error, and 3 an error.
WARNING = 2


def lint_findings(values: dict[str, Any] | None, kube_version: str) -> list[str]:
    report = helm_python.lint(CHART_DIR, values, strict=True, kube_version=f"v{kube_version}.0")
    findings = [
        f"{message['path']}: {message['error']}"
        for message in report["messages"]
        if message["severity"] >= WARNING
    ]
    return findings + list(report["errors"])


@pytest.mark.parametrize("kube_version", [KUBERNETES_VERSIONS[0], KUBERNETES_VERSIONS[-1]])
def test_default_values_lint_clean(kube_version: str) -> None:
    assert lint_findings(None, kube_version) == []


@pytest.mark.parametrize("file_name", [pytest.param(name, id=name) for name in ci_values_files()])
def test_example_values_lint_clean(file_name: str) -> None:
    assert lint_findings(ci_values(file_name), KUBERNETES_VERSIONS[0]) == []


def test_lint_reports_schema_violation() -> None:
    findings = lint_findings({"replicas": -1}, KUBERNETES_VERSIONS[0])

    assert any("at '/replicas': minimum: got -1, want 0" in finding for finding in findings)


def test_chart_metadata_pins_versions(chart: helm_python.Chart) -> None:
    metadata = chart.metadata

    assert metadata["apiVersion"] == "v2"
    assert metadata["kubeVersion"] == f">={KUBERNETES_VERSIONS[0]}.0-0"


def test_app_version_is_project_version(chart: helm_python.Chart) -> None:
    project = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())["project"]

    assert chart.metadata["appVersion"] == project["version"]
