"""Subresources, lists, watches and CRD admission of the emulator."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

import pytest

from emulator.client import KubeError, KubeRest, resource_path
from emulator.fixtures import ADMIN_TOKEN, load_crd
from emulator.running import RunningEmulator

MODELSERVICES = resource_path("kiln.dev", "v1alpha1", "modelservices", "ns")
PODS = resource_path("", "v1", "pods", "ns")


def modelservice(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name},
        "spec": {"image": "kiln:1", "model": {"size": "1Gi"}, **spec},
    }


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "server", "image": "kiln:1"}]},
    }


def test_status_subresource_ignores_spec(admin_api: KubeRest) -> None:
    admin_api.create(MODELSERVICES, modelservice("m"))

    admin_api.merge_patch(f"{MODELSERVICES}/m/status", {
        "spec": {"replicas": 7}, "status": {"phase": "Ready"}})

    stored = admin_api.get(f"{MODELSERVICES}/m")
    assert stored["spec"]["replicas"] == 1
    assert stored["status"]["phase"] == "Ready"


def test_main_resource_ignores_status(admin_api: KubeRest) -> None:
    admin_api.create(MODELSERVICES, modelservice("m"))

    admin_api.merge_patch(f"{MODELSERVICES}/m", {"status": {"phase": "Ready"}})

    assert "status" not in admin_api.get(f"{MODELSERVICES}/m")


def test_create_drops_status(admin_api: KubeRest) -> None:
    body = pod("p")
    body["status"] = {"phase": "Running"}

    created = admin_api.create(PODS, body)

    assert "status" not in created


def test_scale_subresource_reads_and_writes_replicas(admin_api: KubeRest) -> None:
    admin_api.create(MODELSERVICES, modelservice("m"))
    admin_api.merge_patch(f"{MODELSERVICES}/m/status", {
        "status": {"replicas": 1, "selector": "app=m"}})

    scale = admin_api.merge_patch(f"{MODELSERVICES}/m/scale", {"spec": {"replicas": 3}})

    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 3
    assert scale["status"] == {"replicas": 1, "selector": "app=m"}
    assert admin_api.get(f"{MODELSERVICES}/m")["spec"]["replicas"] == 3


def test_list_has_kind_and_resource_version(admin_api: KubeRest) -> None:
    admin_api.create(PODS, pod("p"))

    listing = admin_api.get(PODS)

    assert listing["kind"] == "PodList"
    assert listing["apiVersion"] == "v1"
    assert int(listing["metadata"]["resourceVersion"]) >= 1


@pytest.mark.parametrize(("selector", "expected"), [
    pytest.param("app=kiln", ["a", "b"], id="equals"),
    pytest.param("app=kiln,tier!=gpu", ["a"], id="equals-and-not-equals"),
    pytest.param("tier in (gpu,cpu)", ["b", "c"], id="in"),
    pytest.param("!tier", ["a"], id="does-not-exist"),
    pytest.param("tier", ["b", "c"], id="exists"),
])
def test_list_filters_by_label_selector(
    admin_api: KubeRest, selector: str, expected: list[str]
) -> None:
    admin_api.create(PODS, pod("a", app="kiln"))
    admin_api.create(PODS, pod("b", app="kiln", tier="gpu"))
    admin_api.create(PODS, pod("c", app="other", tier="cpu"))

    listing = admin_api.get(PODS, labelSelector=selector)

    assert sorted(item["metadata"]["name"] for item in listing["items"]) == expected


def test_list_filters_by_field_selector(admin_api: KubeRest) -> None:
    admin_api.create(PODS, pod("a"))
    admin_api.create(PODS, pod("b"))

    listing = admin_api.get(PODS, fieldSelector="metadata.name=b")

    assert [item["metadata"]["name"] for item in listing["items"]] == ["b"]


def read_watch(url: str, timeout: float = 10) -> list[dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def test_watch_resumes_after_resource_version(
    api_emulator: RunningEmulator, admin_api: KubeRest
) -> None:
    first = admin_api.create(PODS, pod("a"))
    admin_api.create(PODS, pod("b"))
    since = first["metadata"]["resourceVersion"]

    events = read_watch(f"{api_emulator.url}{PODS}?watch=true&timeoutSeconds=1"
                        f"&resourceVersion={since}")

    assert [(event["type"], event["object"]["metadata"]["name"]) for event in events] == [
        ("ADDED", "b")]


def test_watch_without_version_lists_then_streams(
    api_emulator: RunningEmulator, admin_api: KubeRest
) -> None:
    admin_api.create(PODS, pod("a"))
    url = f"{api_emulator.url}{PODS}?watch=true&timeoutSeconds=2"
    received: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: received.extend(read_watch(url)))
    reader.start()
    while not any(request.verb == "watch" for request in api_emulator.requests()):
        threading.Event().wait(0.05)

    admin_api.merge_patch(f"{PODS}/a", {"metadata": {"labels": {"changed": "yes"}}})
    reader.join(timeout=10)

    assert [event["type"] for event in received] == ["ADDED", "MODIFIED"]


def test_watch_applies_label_selector(
    api_emulator: RunningEmulator, admin_api: KubeRest
) -> None:
    admin_api.create(PODS, pod("a", app="kiln"))
    admin_api.create(PODS, pod("b", app="other"))

    events = read_watch(f"{api_emulator.url}{PODS}?watch=true&timeoutSeconds=1"
                        "&labelSelector=app%3Dkiln")

    assert [event["object"]["metadata"]["name"] for event in events] == ["a"]


def test_crd_schema_applies_defaults(admin_api: KubeRest) -> None:
    created = admin_api.create(MODELSERVICES, modelservice("m"))

    assert created["spec"]["replicas"] == 1
    assert created["spec"]["service"] == {"port": 80, "type": "ClusterIP"}


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param({"replicas": -1}, "spec.replicas", id="minimum"),
    pytest.param({"device": {"type": "tpu"}}, "spec.device.type", id="enum"),
    pytest.param({"model": {"size": "seventy"}}, "spec.model.size", id="pattern"),
    pytest.param({"unknownField": 1}, "spec.unknownField: unknown field", id="unknown-field"),
    pytest.param({"device": {"type": "cpu", "count": 2}}, "device.count applies to GPUs only",
                 id="cel-rule"),
])
def test_crd_schema_rejects_bad_spec(
    admin_api: KubeRest, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(KubeError) as caught:
        admin_api.create(MODELSERVICES, modelservice("m", **spec))

    assert caught.value.status == 422
    assert message in caught.value.body["message"]


def test_posted_crd_becomes_served(admin_api: KubeRest) -> None:
    crd = load_crd()
    crd["metadata"]["name"] = "widgets.example.com"
    crd["spec"]["group"] = "example.com"
    crd["spec"]["names"] = {"kind": "Widget", "plural": "widgets", "singular": "widget"}
    admin_api.create(resource_path("apiextensions.k8s.io", "v1", "customresourcedefinitions"), crd)

    discovery = admin_api.get("/apis/example.com/v1alpha1")

    assert "widgets" in [entry["name"] for entry in discovery["resources"]]


def test_discovery_keeps_short_names_off_subresources(admin_api: KubeRest) -> None:
    discovery = admin_api.get("/apis/kiln.dev/v1alpha1")

    entries = {entry["name"]: entry for entry in discovery["resources"]}
    assert entries["modelservices"]["shortNames"] == ["ms"]
    assert entries["modelservices"]["categories"] == ["kiln"]
    assert entries["modelservices/scale"]["shortNames"] == []
    assert entries["modelservices/scale"]["kind"] == "Scale"
