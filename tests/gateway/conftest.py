"""Model directories and backend servers shared by the gateway tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.model_files import bake_synthetic
from harness.server_process import ServerProcess

SLOW_FORWARD_SECONDS = 1.0


@pytest.fixture(scope="session")
def synthetic_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(tmp_path_factory.mktemp("gateway-synthetic"))


@pytest.fixture(scope="session")
def slow_synthetic_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(
        tmp_path_factory.mktemp("gateway-slow"), forward_delay=SLOW_FORWARD_SECONDS
    )


@pytest.fixture(scope="module")
def slow_backend(slow_synthetic_model: Path) -> Iterator[ServerProcess]:
    """A kiln server in local mode whose forward pass takes SLOW_FORWARD_SECONDS."""
    with ServerProcess(model_dir=slow_synthetic_model) as backend:
        backend.wait_ready()
        yield backend
