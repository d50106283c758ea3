"""Object metadata, optimistic concurrency, patches and finalizers of the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.client import KubeError, KubeRest, resource_path

CONFIGMAPS = resource_path("", "v1", "configmaps", "ns")
DEPLOYMENTS = resource_path("apps", "v1", "deployments", "ns")


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [
                    {"name": "server", "image": "kiln:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "sidecar", "image": "side:1"},
                ]},
            },
        },
    }


def test_create_stamps_server_metadata(admin_api: KubeRest) -> None:
    created = admin_api.create(CONFIGMAPS, configmap("one", key="value"))

    metadata = created["metadata"]
    assert metadata["uid"]
    assert metadata["resourceVersion"]
    assert metadata["generation"] == 1
    assert metadata["creationTimestamp"].endswith("Z")
    assert metadata["namespace"] == "ns"


def test_resource_version_grows_across_objects(admin_api: KubeRest) -> None:
    first = admin_api.create(CONFIGMAPS, configmap("one"))
    second = admin_api.create(CONFIGMAPS, configmap("two"))

    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])


def test_generation_counts_spec_changes_only(admin_api: KubeRest) -> None:
    admin_api.create(DEPLOYMENTS, deployment("web"))
    path = f"{DEPLOYMENTS}/web"

    labelled = admin_api.merge_patch(path, {"metadata": {"labels": {"tier": "a"}}})
    scaled = admin_api.merge_patch(path, {"spec": {"replicas": 3}})

    assert labelled["metadata"]["generation"] == 1
    assert scaled["metadata"]["generation"] == 2


def test_noop_patch_keeps_resource_version(admin_api: KubeRest) -> None:
    created = admin_api.create(CONFIGMAPS, configmap("one", key="value"))

    patched = admin_api.merge_patch(f"{CONFIGMAPS}/one", {"data": {"key": "value"}})

    assert patched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_duplicate_create_is_conflict(admin_api: KubeRest) -> None:
    admin_api.create(CONFIGMAPS, configmap("one"))

    with pytest.raises(KubeError) as caught:
        admin_api.create(CONFIGMAPS, configmap("one"))

    assert caught.value.status == 409
    assert caught.value.body["reason"] == "AlreadyExists"


def test_generate_name_creates_unique_names(admin_api: KubeRest) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cm-"}}

    first = admin_api.create(CONFIGMAPS, body)
    second = admin_api.create(CONFIGMAPS, body)

    assert first["metadata"]["name"].startswith("cm-")
    assert first["metadata"]["name"] != second["metadata"]["name"]


def test_put_replaces_whole_object(admin_api: KubeRest) -> None:
    created = admin_api.create(CONFIGMAPS, configmap("one", old="1"))
    created["data"] = {"new": "2"}

    replaced = admin_api.replace(f"{CONFIGMAPS}/one", created)

    assert replaced["data"] == {"new": "2"}


def test_stale_put_is_conflict(admin_api: KubeRest) -> None:
    created = admin_api.create(CONFIGMAPS, configmap("one"))
    admin_api.merge_patch(f"{CONFIGMAPS}/one", {"data": {"other": "writer"}})

    with pytest.raises(KubeError) as caught:
        admin_api.replace(f"{CONFIGMAPS}/one", created)

    assert caught.value.status == 409


def test_stale_merge_patch_is_conflict(admin_api: KubeRest) -> None:
    created = admin_api.create(CONFIGMAPS, configmap("one"))
    admin_api.merge_patch(f"{CONFIGMAPS}/one", {"data": {"other": "writer"}})
    stale = created["metadata"]["resourceVersion"]

    with pytest.raises(KubeError) as caught:
        admin_api.merge_patch(f"{CONFIGMAPS}/one", {
            "metadata": {"resourceVersion": stale}, "data": {"mine": "x"}})

    assert caught.value.status == 409


def test_merge_patch_null_removes_key(admin_api: KubeRest) -> None:
    admin_api.create(CONFIGMAPS, configmap("one", keep="1", drop="2"))

    patched = admin_api.merge_patch(f"{CONFIGMAPS}/one", {"data": {"drop": None}})

    assert patched["data"] == {"keep": "1"}


def test_failed_json_patch_test_is_422(admin_api: KubeRest) -> None:
    admin_api.create(CONFIGMAPS, configmap("one", key="value"))

    with pytest.raises(KubeError) as caught:
        admin_api.json_patch(f"{CONFIGMAPS}/one", [
            {"op": "test", "path": "/data/key", "value": "other"},
            {"op": "replace", "path": "/data/key", "value": "changed"},
        ])

    assert caught.value.status == 422
    assert admin_api.get(f"{CONFIGMAPS}/one")["data"] == {"key": "value"}


def test_json_patch_applies_operations(admin_api: KubeRest) -> None:
    created = admin_api.create(CONFIGMAPS, configmap("one", key="value"))
    version = created["metadata"]["resourceVersion"]

    patched = admin_api.json_patch(f"{CONFIGMAPS}/one", [
        {"op": "test", "path": "/metadata/resourceVersion", "value": version},
        {"op": "add", "path": "/data/added", "value": "yes"},
    ])

    assert patched["data"] == {"key": "value", "added": "yes"}


def test_strategic_patch_merges_containers_by_name(admin_api: KubeRest) -> None:
    admin_api.create(DEPLOYMENTS, deployment("web"))

    patched = admin_api.strategic_patch(f"{DEPLOYMENTS}/web", {"spec": {"template": {"spec": {
        "containers": [{"name": "server", "image": "kiln:2"}]}}}})

    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [container["image"] for container in containers] == ["kiln:2", "side:1"]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}]


def test_unknown_patch_type_is_415(admin_api: KubeRest) -> None:
    admin_api.create(CONFIGMAPS, configmap("one"))

    with pytest.raises(KubeError) as caught:
        admin_api.request("PATCH", f"{CONFIGMAPS}/one", {"data": {}},
                          content_type="application/apply-patch+yaml")

    assert caught.value.status == 415


def test_finalizer_delays_deletion(admin_api: KubeRest) -> None:
    body = configmap("one")
    body["metadata"]["finalizers"] = ["kiln.dev/test"]
    admin_api.create(CONFIGMAPS, body)

    marked = admin_api.delete(f"{CONFIGMAPS}/one")

    assert marked["metadata"]["deletionTimestamp"]
    assert admin_api.exists(f"{CONFIGMAPS}/one")


def test_removing_last_finalizer_deletes(admin_api: KubeRest) -> None:
    body = configmap("one")
    body["metadata"]["finalizers"] = ["kiln.dev/test"]
    admin_api.create(CONFIGMAPS, body)
    admin_api.delete(f"{CONFIGMAPS}/one")

    admin_api.merge_patch(f"{CONFIGMAPS}/one", {"metadata": {"finalizers": None}})

    assert not admin_api.exists(f"{CONFIGMAPS}/one")


def test_invalid_builtin_object_is_422(admin_api: KubeRest) -> None:
    body = deployment("web")
    body["spec"]["template"]["spec"]["containers"][0]["startupProbe"] = {"periodSecond": 5}

    with pytest.raises(KubeError) as caught:
        admin_api.create(DEPLOYMENTS, body)

    assert caught.value.status == 422
    assert "periodSecond" in caught.value.body["message"]


def test_unknown_resource_is_404(admin_api: KubeRest) -> None:
    with pytest.raises(KubeError) as caught:
        admin_api.get(resource_path("example.com", "v1", "widgets", "ns"))

    assert caught.value.status == 404
