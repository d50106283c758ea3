"""A module-wide emulator with the operator running against it, and one namespace per test.

Tests share the emulator and the operator of their module to keep the tier fast. Each test
works in its own namespace, so objects, faults and logged requests do not mix.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator.fixtures import (  # noqa: F401 - fixtures used by name
    ADMIN_TOKEN,
    OPERATOR_TOKEN,
    admin_api,
    api_emulator,
    start_emulator,
)
from emulator.operator_thread import OperatorThread
from operator_cluster import Cluster

_namespaces = itertools.count(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder: Path = tmp_path_factory.mktemp("cluster")
    emulator = start_emulator()
    admin = emulator.write_kubeconfig(folder / "admin.kubeconfig", ADMIN_TOKEN)
    operator_config = emulator.write_kubeconfig(folder / "operator.kubeconfig", OPERATOR_TOKEN)
    operator = OperatorThread(operator_config).start()
    try:
        yield Cluster(emulator, operator, admin, operator_config)
    finally:
        operator.stop()
        emulator.stop()


@pytest.fixture
def namespace() -> str:
    return f"test-{next(_namespaces)}"
