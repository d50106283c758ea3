"""Model directories shared by the gateway tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.model_files import bake_synthetic

SLOW_FORWARD_SECONDS = 1.0


@pytest.fixture(scope="session")
def synthetic_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(tmp_path_factory.mktemp("gateway-synthetic"))


@pytest.fixture(scope="session")
def slow_synthetic_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(
        tmp_path_factory.mktemp("gateway-slow"), forward_delay=SLOW_FORWARD_SECONDS
    )
