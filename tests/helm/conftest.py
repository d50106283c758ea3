"""Fixtures for the kiln chart's tests: the chart, loaded once per session by Helm's SDK, and
the Kubernetes API emulator for installing it."""

from __future__ import annotations

from collections.abc import Iterator

import helm_python
import pytest
from chart_manifests import CHART_DIR
from emulator.fixtures import (  # noqa: F401 - fixtures used by name
    admin_api,
    admin_kubeconfig,
    api_emulator,
    operator_api_requests,
)


@pytest.fixture(scope="session")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded
