"""Fixtures of the adapter tests: a synthetic base model and servers with adapters."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.adapter_files import SYNTHETIC_DIMENSIONS, SYNTHETIC_NAME
from harness.model_files import bake_synthetic


@pytest.fixture(scope="session")
def synthetic_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baked KilnSynthetic model: fast to load, with 16-dimensional embeddings."""
    return bake_synthetic(
        tmp_path_factory.mktemp("base"), name=SYNTHETIC_NAME, hidden=SYNTHETIC_DIMENSIONS
    )
