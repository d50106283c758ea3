"""Pytest fixtures that serve a Kubernetes API emulator for any test folder.

Use them from a ``conftest.py`` by importing the fixtures by name::

    from emulator.fixtures import api_emulator, admin_api, admin_kubeconfig  # noqa: F401

``tests/conftest.py`` puts ``tests/`` on ``sys.path``, so the package imports as ``emulator``.

Fixtures (all function-scoped):

``api_emulator`` -> ``RunningEmulator``
    An ``ApiEmulator`` (kmock's ``KubernetesEmulator`` extended, see ``server.py``) served on
    ``http://127.0.0.1:<free port>`` by a background thread, with the kiln ModelService CRD
    registered and every built-in object validated strictly against the Kubernetes 1.30 to
    1.33 schemas. It accepts two bearer tokens: ``ADMIN_TOKEN`` (user ``ADMIN_USER``, for the
    test itself) and ``OPERATOR_TOKEN`` (user ``OPERATOR_USER``, for the operator).
    kubectl sends no token over plain HTTP; its requests are logged as user ``anonymous``.
``admin_kubeconfig`` / ``operator_kubeconfig`` -> ``Path``
    Kubeconfig files for those identities, pointing at the emulator.
``admin_api`` -> ``KubeRest``
    A JSON client with the admin token (sends bodies unvalidated, returns plain dicts).

Request log, for least-privilege checks of RBAC rules:

``api_emulator.requests(user=OPERATOR_USER)`` returns every request that identity made, in
order, as ``request_log.ApiRequest`` records with ``verb`` (the RBAC verb: get, list, watch,
create, update, patch, delete, deletecollection; the lower-case HTTP method for non-resource
URLs), ``api_group`` ("" for core), ``version``, ``resource`` (plural, "" for non-resource
URLs such as ``/apis``), ``subresource`` ("" or e.g. "status", "scale"), ``namespace``
(None for a cluster-wide request), ``name``, ``path``, ``user``, ``user_agent`` and the
response ``status``. ``request_log.rbac_needs(requests)`` reduces them to the distinct
``RbacNeed(api_group, resource, verb, cluster_wide)`` permissions, with the resource spelled
``plural/subresource`` as RBAC rules spell it. ``request_log.write_request_log`` and
``read_request_log`` store and load a log as JSON.

``operator_api_requests`` (session-scoped) -> ``list[ApiRequest]``
    The requests the kiln operator made while ``operator_scenario.run_operator_scenario``
    drove it through every behaviour (create, patch, scale, learning, events, invalid spec,
    recreate, delete): the input of a least-privilege check of the chart's RBAC rules.

Faults: ``api_emulator.inject(faults.Fault(verb="create", resource="deployments", status=500))``
answers the next matching request with that error instead of serving it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .client import KubeRest
from .request_log import ApiRequest
from .running import RunningEmulator
from .server import ApiEmulator
from .validation import SUPPORTED_VERSIONS

REPOSITORY = Path(__file__).resolve().parents[2]
CRD_PATH = REPOSITORY / "operator" / "kiln_operator" / "crd" / "modelservices.kiln.dev.yaml"

ADMIN_TOKEN = "test-admin-token"
ADMIN_USER = "test-admin"
OPERATOR_TOKEN = "kiln-operator-token"
OPERATOR_USER = "kiln-operator"


def load_crd() -> dict[str, Any]:
    """Return the ModelService CRD as the repository ships it."""
    crd: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text(encoding="utf-8"))
    return crd


def start_emulator(*, validate: bool = True) -> RunningEmulator:
    """Start an emulator with the kiln CRD and both identities. The caller stops it."""
    emulator = ApiEmulator(
        tokens={ADMIN_TOKEN: ADMIN_USER, OPERATOR_TOKEN: OPERATOR_USER},
        validate_versions=SUPPORTED_VERSIONS if validate else (),
    )
    running = RunningEmulator(emulator).start()
    running.register_crd(load_crd())
    return running


@pytest.fixture
def api_emulator() -> Iterator[RunningEmulator]:
    running = start_emulator()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def admin_kubeconfig(api_emulator: RunningEmulator, tmp_path: Path) -> Path:
    return api_emulator.write_kubeconfig(tmp_path / "admin.kubeconfig", ADMIN_TOKEN)


@pytest.fixture
def operator_kubeconfig(api_emulator: RunningEmulator, tmp_path: Path) -> Path:
    return api_emulator.write_kubeconfig(tmp_path / "operator.kubeconfig", OPERATOR_TOKEN)


@pytest.fixture
def admin_api(api_emulator: RunningEmulator) -> KubeRest:
    return KubeRest(api_emulator.url, ADMIN_TOKEN)


@pytest.fixture(scope="session")
def operator_api_requests(tmp_path_factory: pytest.TempPathFactory) -> list[ApiRequest]:
    """Every request the kiln operator made while ``run_operator_scenario`` drove it."""
    from .operator_scenario import run_operator_scenario

    return run_operator_scenario(tmp_path_factory.mktemp("operator-scenario"))
