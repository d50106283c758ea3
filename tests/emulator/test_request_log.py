"""The request log, injected faults and kubectl against the emulator."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from emulator.client import KubeError, KubeRest, resource_path
from emulator.faults import Fault
from emulator.fixtures import ADMIN_USER
from emulator.request_log import (
    ApiRequest,
    RbacNeed,
    rbac_needs,
    read_request_log,
    write_request_log,
)
from emulator.running import RunningEmulator

MODELSERVICES = resource_path("kiln.dev", "v1alpha1", "modelservices", "ns")
KUBECTL = "/usr/bin/kubectl"


def test_log_records_rbac_terms(api_emulator: RunningEmulator, admin_api: KubeRest) -> None:
    admin_api.create(MODELSERVICES, {"apiVersion": "kiln.dev/v1alpha1", "kind": "ModelService",
                                     "metadata": {"name": "m"},
                                     "spec": {"image": "kiln:1", "model": {"size": 1}}})
    admin_api.merge_patch(f"{MODELSERVICES}/m/status", {"status": {"phase": "Pending"}})
    admin_api.get(resource_path("", "v1", "pods"))

    logged = [(request.verb, request.api_group, request.resource, request.subresource,
               request.namespace) for request in api_emulator.requests(user=ADMIN_USER)]

    assert logged == [
        ("create", "kiln.dev", "modelservices", "", "ns"),
        ("patch", "kiln.dev", "modelservices", "status", "ns"),
        ("list", "", "pods", "", None),
    ]


def test_log_records_identity_and_status(
    api_emulator: RunningEmulator, admin_api: KubeRest
) -> None:
    with pytest.raises(KubeError):
        admin_api.get(f"{MODELSERVICES}/missing")

    request = api_emulator.requests()[-1]

    assert request.user == ADMIN_USER
    assert request.status == 404
    assert request.name == "missing"


def test_rbac_needs_spell_subresources_and_scope() -> None:
    requests = [
        ApiRequest("watch", "", "v1", "pods", "", None, None, "/api/v1/pods", "op", "", 200),
        ApiRequest("patch", "kiln.dev", "v1alpha1", "modelservices", "status", "ns", "m",
                   "/apis/...", "op", "", 200),
        ApiRequest("get", "", "", "", "", None, None, "/apis", "op", "", 200),
    ]

    assert rbac_needs(requests) == {
        RbacNeed("", "pods", "watch", cluster_wide=True),
        RbacNeed("kiln.dev", "modelservices/status", "patch", cluster_wide=False),
    }


def test_log_round_trips_through_json(tmp_path: Path) -> None:
    requests = [ApiRequest("get", "apps", "v1", "deployments", "", "ns", "d", "/apis/apps/v1",
                           "op", "agent", 200)]

    write_request_log(requests, tmp_path / "log.json")

    assert read_request_log(tmp_path / "log.json") == requests


def test_unknown_token_is_401(api_emulator: RunningEmulator) -> None:
    stranger = KubeRest(api_emulator.url, "not-a-known-token")

    with pytest.raises(KubeError) as caught:
        stranger.get(MODELSERVICES)

    assert caught.value.status == 401


def test_fault_answers_matching_requests(
    api_emulator: RunningEmulator, admin_api: KubeRest
) -> None:
    api_emulator.inject(Fault(verb="list", resource="modelservices", status=503, times=1))

    with pytest.raises(KubeError) as caught:
        admin_api.get(MODELSERVICES)
    listing = admin_api.get(MODELSERVICES)

    assert caught.value.status == 503
    assert listing["items"] == []


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(kubeconfig),
           "HOME": str(kubeconfig.parent)}
    return subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_kubectl_applies_scales_and_lists(admin_kubeconfig: Path, admin_api: KubeRest) -> None:
    manifest = admin_kubeconfig.parent / "modelservice.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "kiln.dev/v1alpha1", "kind": "ModelService",
        "metadata": {"name": "m", "namespace": "ns"},
        "spec": {"image": "kiln:1", "model": {"size": "1Gi"}},
    }))

    applied = kubectl(admin_kubeconfig, "apply", "--validate=false", "-f", str(manifest))
    scaled = kubectl(admin_kubeconfig, "-n", "ns", "scale", "ms/m", "--replicas=2")
    listed = kubectl(admin_kubeconfig, "-n", "ns", "get", "kiln")

    assert applied.returncode == 0, applied.stderr
    assert scaled.returncode == 0, scaled.stderr
    assert admin_api.get(f"{MODELSERVICES}/m")["spec"]["replicas"] == 2
    assert listed.stdout.split()[:7] == [
        "NAME", "PHASE", "READY", "DESIRED", "SIZE", "STARTUP-BUDGET", "AGE"]
    assert listed.stderr == ""
