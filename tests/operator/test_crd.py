"""The ModelService CRD: valid for Kubernetes, and its schema admits the examples only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from emulator.admission import admit
from emulator.fixtures import CRD_PATH, load_crd
from emulator.validation import SUPPORTED_VERSIONS, validate_builtin

from kiln_operator.spec import parse_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def schema() -> dict[str, Any]:
    version: dict[str, Any] = load_crd()["spec"]["versions"][0]
    openapi: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return openapi


def test_crd_valid_in_supported_kubernetes() -> None:
    assert validate_builtin(load_crd(), SUPPORTED_VERSIONS) == []


def test_crd_is_packaged_with_operator() -> None:
    import importlib.resources

    packaged = importlib.resources.files("kiln_operator.crd") / "modelservices.kiln.dev.yaml"

    assert packaged.read_text(encoding="utf-8") == CRD_PATH.read_text(encoding="utf-8")


def test_crd_names_and_subresources() -> None:
    crd = load_crd()
    version = crd["spec"]["versions"][0]

    assert crd["spec"]["names"]["shortNames"] == ["ms"]
    assert crd["spec"]["names"]["categories"] == ["kiln"]
    assert crd["spec"]["scope"] == "Namespaced"
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector"}
    assert "status" in version["subresources"]
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert {"Phase", "Ready", "Size", "Startup-Budget", "Age"} <= set(columns)


@pytest.mark.parametrize("path", [pytest.param(path, id=path.stem) for path in EXAMPLES])
def test_example_admitted_by_schema(path: Path) -> None:
    example = yaml.safe_load(path.read_text(encoding="utf-8"))

    result = admit(example, schema())

    assert result.errors == []
    assert result.unknown_fields == []


def test_bake_snippet_admitted_by_schema() -> None:
    cli = pytest.importorskip("kiln_service.cli")
    snippet = cli.modelservice_snippet("all-MiniLM-L6-v2", 90868376)
    document = yaml.safe_load(snippet.split("---", 1)[1])

    assert admit(document, schema()).errors == []


def modelservice(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kiln.dev/v1alpha1", "kind": "ModelService",
            "metadata": {"name": "m"}, "spec": {"image": "kiln:1", **spec}}


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param({}, "spec.model is required unless spec.backend", id="no-model"),
    pytest.param({"model": {"size": 1}, "backend": {"url": "http://b"}}, "exclude each other",
                 id="model-and-backend"),
    pytest.param({"backend": {"url": "http://b"}, "device": {"type": "gpu"}},
                 "spec.device.type must be cpu", id="gateway-gpu"),
    pytest.param({"model": {"size": 1}, "device": {"type": "gpu"}, "workers": 2},
                 "every worker loads its own copy", id="gpu-workers"),
    pytest.param({"model": {"size": 1}, "replicas": 2, "jobs": {"volumeSize": "1Gi"}},
                 "SQLite job store on a persistent volume serves one replica", id="shared-sqlite"),
    pytest.param({"model": {"size": 1}, "workers": 2, "jobs": {"store": "sqlite"}},
                 "SQLite job store serves one worker process", id="sqlite-workers"),
    pytest.param({"model": {"size": 1}, "jobs": {"storageClassName": "fast"}},
                 "storageClassName applies only with jobs.volumeSize", id="class-without-volume"),
    pytest.param({"model": {"size": 1}, "env": [{"name": "KILN_REDIS_KEY_PREFIX", "value": "x"}]},
                 "computed by the operator", id="managed-redis-prefix"),
    pytest.param({"model": {"size": 1}, "env": [{"name": "KILN_ADAPTER_CACHE_BYTES",
                                                 "value": "1"}]},
                 "computed by the operator", id="managed-adapter-cache"),
    pytest.param({"model": {"size": 1}, "adapters": {}}, "spec.adapters.path",
                 id="adapters-without-path"),
    pytest.param({"model": {"size": 1}, "adapters": {"path": "adapters"}}, "spec.adapters.path",
                 id="relative-adapters-path"),
    pytest.param({"model": {"size": 1}, "adapters": {"path": "/opt/../etc"}},
                 "spec.adapters.path", id="dotted-adapters-path"),
    pytest.param({"model": {"size": 1}, "adapters": {"path": "/tmp/adapters"}},
                 "where the pod mounts volumes of its own", id="adapters-in-tmp"),
    pytest.param({"model": {"size": 1}, "adapters": {
        "path": "/opt/kiln", "persistentVolumeClaim": {"claimName": "a"}}},
                 "would hide a directory the server needs", id="claim-hides-model"),
    pytest.param({"model": {"size": 1}, "adapters": {
        "path": "/usr/share/a", "persistentVolumeClaim": {"claimName": "a"}}},
                 "would hide a directory the server needs", id="claim-inside-usr"),
    pytest.param({"model": {"size": 1}, "adapters": {"path": "/a", "persistentVolumeClaim": {}}},
                 "claimName", id="claim-without-name"),
    pytest.param({"model": {"size": 1}, "adapters": {"path": "/a", "cacheBytes": "1m"}},
                 "spec.adapters.cacheBytes", id="milli-cache-bytes"),
    pytest.param({"model": {"size": 1}, "adapters": {"path": "/a", "cacheCount": 0}},
                 "spec.adapters.cacheCount", id="zero-cache-count"),
    pytest.param({"model": {"size": 1}, "jobs": {"store": "redis"}},
                 "needs jobs.redisUrlSecretRef", id="redis-without-secret"),
    pytest.param({"model": {"size": 1}, "env": [{"name": "KILN_LOAD_TIMEOUT", "value": "9"}]},
                 "computed by the operator", id="managed-env"),
    pytest.param({"backend": {"url": "ftp://b"}}, "spec.backend.url", id="backend-scheme"),
    pytest.param({"model": {"size": "70 GB"}}, "spec.model.size", id="size-pattern"),
])
def test_schema_rejects_bad_spec(spec: dict[str, Any], message: str) -> None:
    result = admit(modelservice(**spec), schema())

    assert any(message in error for error in result.errors), result.errors


ADMITTED = [
    pytest.param({"model": {"size": 1}, "replicas": 3, "workers": 4, "jobs": {
        "store": "redis", "redisUrlSecretRef": {"name": "r", "key": "url"}}}, id="redis-scaled"),
    pytest.param({"model": {"size": 1}, "workers": 1, "jobs": {}}, id="sqlite-one-worker"),
    pytest.param({"model": {"size": 1}, "replicas": 2, "jobs": {}}, id="sqlite-emptydir-scaled"),
    pytest.param({"model": {"size": 1}, "replicas": 4, "workers": 2}, id="no-jobs-scaled"),
    pytest.param({"model": {"size": 1}, "adapters": {
        "path": "/srv/adapters", "persistentVolumeClaim": {"claimName": "a"},
        "cacheBytes": 1048576}}, id="claim-integer-cache"),
    pytest.param({"model": {"size": 1}, "adapters": {"path": "/opt/kiln/model/adapters"}},
                 id="baked-inside-model"),
]


@pytest.mark.parametrize("spec", ADMITTED)
def test_schema_admits_good_spec(spec: dict[str, Any]) -> None:
    result = admit(modelservice(**spec), schema())

    assert result.errors == []
    assert result.unknown_fields == []


@pytest.mark.parametrize("spec", ADMITTED)
def test_operator_accepts_admitted_spec(spec: dict[str, Any]) -> None:
    admitted = admit(modelservice(**spec), schema()).obj

    assert parse_spec(admitted["spec"]).image == "kiln:1"
