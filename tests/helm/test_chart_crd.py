"""The chart's CRD is the operator's CRD, byte for byte, and Helm ships it from crds/."""

from __future__ import annotations

import helm_python
import yaml
from chart_manifests import CHART_DIR, REPOSITORY_ROOT

CRD_FILE_NAME = "modelservices.kiln.dev.yaml"
OPERATOR_CRD = REPOSITORY_ROOT / "operator" / "kiln_operator" / "crd" / CRD_FILE_NAME
CHART_CRD = CHART_DIR / "crds" / CRD_FILE_NAME


def test_crd_copy_identical() -> None:
    assert CHART_CRD.read_bytes() == OPERATOR_CRD.read_bytes(), (
        f"{CHART_CRD} differs from {OPERATOR_CRD}; copy the operator's file over the chart's."
    )


def test_chart_ships_only_crd(chart: helm_python.Chart) -> None:
    crds = chart.crds

    assert [crd["name"] for crd in crds] == [f"crds/{CRD_FILE_NAME}"]
    assert yaml.safe_load(crds[0]["data"])["metadata"]["name"] == "modelservices.kiln.dev"


def test_crd_not_templated(chart: helm_python.Chart) -> None:
    templates = [template["name"] for template in chart.templates]

    assert not [name for name in templates if CRD_FILE_NAME in name]
