"""`helm install`, `upgrade` and `uninstall` of the chart against the Kubernetes API emulator.

The emulator validates every built-in object strictly against the Kubernetes 1.30 to 1.33
schemas and admits ModelServices with the CRD that Helm installed from crds/, so these tests
also show that the API accepts what the chart sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import helm_python
import pytest
from chart_manifests import RELEASE_NAME, RELEASE_NAMESPACE
from emulator.client import KubeRest
from emulator.fixtures import ADMIN_TOKEN
from emulator.running import RunningEmulator
from emulator_release import EmulatorRelease, running_emulator

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/modelservices.kiln.dev"
DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{RELEASE_NAMESPACE}/deployments/{RELEASE_NAME}"
CLUSTER_ROLE_PATH = f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{RELEASE_NAME}"
MINILM_SPEC = {"image": "registry.example.com/kiln-server:0.1.0", "model": {"size": "87Mi"}}
WATCHING_TEAM_A = {
    "watchNamespaces": ["team-a"],
    "modelServices": [{"name": "minilm", "namespace": "team-a", "spec": MINILM_SPEC}],
}


def role_path(namespace: str) -> str:
    return f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles/{RELEASE_NAME}"


def model_service_path(namespace: str, name: str) -> str:
    return f"/apis/kiln.dev/v1alpha1/namespaces/{namespace}/modelservices/{name}"


@pytest.fixture
def helm_emulator() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        yield running


@pytest.fixture
def cluster_api(helm_emulator: RunningEmulator) -> KubeRest:
    return KubeRest(helm_emulator.url, ADMIN_TOKEN)


@pytest.fixture
def release(helm_emulator: RunningEmulator, tmp_path: Path) -> Iterator[EmulatorRelease]:
    kubeconfig = helm_emulator.write_kubeconfig(tmp_path / "admin.kubeconfig", ADMIN_TOKEN)
    with EmulatorRelease(kubeconfig) as opened:
        yield opened


def test_install_deploys_release(release: EmulatorRelease, cluster_api: KubeRest) -> None:
    summary = release.install({})

    assert summary["status"] == "deployed"
    assert summary["revision"] == 1
    assert cluster_api.exists(CRD_PATH)
    assert cluster_api.exists(DEPLOYMENT_PATH)
    assert cluster_api.exists(CLUSTER_ROLE_PATH)
    assert cluster_api.exists(f"/api/v1/namespaces/{RELEASE_NAMESPACE}/serviceaccounts/kiln")


def test_install_prints_notes(release: EmulatorRelease) -> None:
    summary = release.install({})

    assert f"rollout status deployment/{RELEASE_NAME}" in summary["notes"]


def test_upgrade_switches_to_roles(release: EmulatorRelease, cluster_api: KubeRest) -> None:
    release.install({})
    summary = release.upgrade(WATCHING_TEAM_A)
    deployment = cluster_api.get(DEPLOYMENT_PATH)

    assert summary["revision"] == 2
    assert not cluster_api.exists(CLUSTER_ROLE_PATH)
    assert cluster_api.exists(role_path("team-a"))
    assert cluster_api.exists(model_service_path("team-a", "minilm"))
    assert "--namespace=team-a" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_uninstall_keeps_crd(release: EmulatorRelease, cluster_api: KubeRest) -> None:
    release.install(WATCHING_TEAM_A)
    release.uninstall()

    assert not cluster_api.exists(DEPLOYMENT_PATH)
    assert not cluster_api.exists(role_path("team-a"))
    assert not cluster_api.exists(model_service_path("team-a", "minilm"))
    assert cluster_api.exists(CRD_PATH)


def test_crd_rejects_invalid_spec(release: EmulatorRelease) -> None:
    spec = {**MINILM_SPEC, "device": {"type": "cpu", "count": 2}}
    values = {"modelServices": [{"name": "minilm", "spec": spec}]}

    with pytest.raises(helm_python.HelmReleaseError) as raised:
        release.install(values)

    assert "device.count applies to GPUs only" in str(raised.value)
