"""The pure object builders: safe pods, sized resources, valid Kubernetes objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from emulator.validation import SUPPORTED_VERSIONS, validate_builtin

from kiln_operator.builders import deployment as deployments
from kiln_operator.builders import network
from kiln_operator.builders.metadata import Owner
from kiln_operator.fragment import pod_fragment
from kiln_operator.kube import is_applied, patch_body, without_nones
from kiln_operator.quantity import parse_bytes
from kiln_operator.reconcile import effective_tuning

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OWNER = Owner("model", "team-a", "0b5c3c4e-0000-4000-8000-000000000001")


def example_spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())["spec"]
    return spec


def build(spec_body: dict[str, Any]) -> dict[str, Any]:
    spec, tuning, _ = effective_tuning(spec_body, 0)
    built: dict[str, Any] = deployments.deployment(OWNER, spec, tuning)
    return built


def pod_spec(spec_body: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = build(spec_body)["spec"]["template"]["spec"]
    return pod


def env_of(spec_body: dict[str, Any]) -> dict[str, Any]:
    container = pod_spec(spec_body)["containers"][0]
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


SPECS = [
    pytest.param(example_spec("minilm.yaml"), id="minilm-example"),
    pytest.param(example_spec("gpu-70gi.yaml"), id="gpu-70gi-example"),
    pytest.param(example_spec("gateway.yaml"), id="gateway-example"),
    pytest.param(example_spec("adapters.yaml"), id="adapters-example"),
    pytest.param({"image": "kiln:1", "model": {"size": "1Gi"}, "jobs": {},
                  "adapters": {"path": "/opt/kiln/adapters"}}, id="emptydir-jobs-baked-adapters"),
    pytest.param({"image": "kiln:1", "model": {"size": "1Gi"},
                  "timing": {"drainMode": "preStopSleep"}}, id="prestop-sleep"),
]


@pytest.mark.parametrize("spec_body", SPECS)
def test_children_valid_in_supported_kubernetes(spec_body: dict[str, Any]) -> None:
    spec, tuning, _ = effective_tuning(spec_body, 0)
    children = [deployments.deployment(OWNER, spec, tuning), network.service(OWNER, spec),
                network.disruption_budget(OWNER, spec), network.jobs_volume_claim(OWNER, spec)]

    for child in children:
        if child is not None:
            assert validate_builtin(without_nones(child), SUPPORTED_VERSIONS) == []


def test_pod_is_safe_by_default() -> None:
    pod = pod_spec(example_spec("minilm.yaml"))
    container = pod["containers"][0]
    security = container["securityContext"]

    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


def test_pod_matches_tune_fragment() -> None:
    spec_body = example_spec("gpu-70gi.yaml")
    _, tuning, _ = effective_tuning(spec_body, 0)
    fragment = pod_fragment(tuning)
    pod = pod_spec(spec_body)
    container = pod["containers"][0]

    assert pod["terminationGracePeriodSeconds"] == fragment["terminationGracePeriodSeconds"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe] == fragment["containers"][0][probe]
    for variable in fragment["containers"][0]["env"]:
        assert variable in container["env"]


def test_gpu_resources_follow_weights() -> None:
    resources = pod_spec(example_spec("gpu-70gi.yaml"))["containers"][0]["resources"]

    assert resources["limits"]["nvidia.com/gpu"] == "1"
    assert resources["requests"]["cpu"] == "8"
    assert resources["requests"]["memory"] == "90624Mi"  # 1.25 x 70Gi + 1Gi


def test_gateway_has_small_resources_and_no_weights() -> None:
    spec_body = example_spec("gateway.yaml")
    resources = pod_spec(spec_body)["containers"][0]["resources"]
    env = env_of(spec_body)

    assert resources["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert env["KILN_BACKEND_URL"] == "http://tei.inference.svc.cluster.local:8080"
    assert "KILN_VERIFY" not in env
    assert env["KILN_WORKERS"] == "4"


def test_redis_url_comes_from_secret() -> None:
    env = env_of(example_spec("gpu-70gi.yaml"))

    assert env["KILN_JOBS_STORE"] == "redis"
    assert env["KILN_REDIS_URL"] == {"secretKeyRef": {"name": "kiln-redis", "key": "url"}}


def test_redis_keys_prefixed_per_service() -> None:
    env = env_of(example_spec("gpu-70gi.yaml"))

    assert env["KILN_REDIS_KEY_PREFIX"] == "kiln:team-a/model"


def test_redis_pod_has_no_store_volume() -> None:
    pod = pod_spec(example_spec("gpu-70gi.yaml"))

    assert "KILN_DATA_DIR" not in env_of(example_spec("gpu-70gi.yaml"))
    assert [volume["name"] for volume in pod["volumes"]] == ["tmp"]
    assert [mount["name"] for mount in pod["containers"][0]["volumeMounts"]] == ["tmp"]


def test_jobs_off_without_section() -> None:
    spec_body = {"image": "kiln:1", "model": {"size": "1Gi"}, "timing": {"queueDrainSeconds": 60}}
    env = env_of(spec_body)
    pod = pod_spec(spec_body)

    for name in ("KILN_JOBS_STORE", "KILN_DATA_DIR", "KILN_REDIS_URL", "KILN_QUEUE_DRAIN_TIMEOUT"):
        assert name not in env
    assert [volume["name"] for volume in pod["volumes"]] == ["tmp"]
    assert [mount["name"] for mount in pod["containers"][0]["volumeMounts"]] == ["tmp"]


def test_sqlite_without_volume_uses_emptydir() -> None:
    spec_body = {"image": "kiln:1", "model": {"size": "1Gi"}, "jobs": {}}
    spec, _, _ = effective_tuning(spec_body, 0)
    env = env_of(spec_body)
    pod = pod_spec(spec_body)

    assert env["KILN_JOBS_STORE"] == "sqlite"
    assert env["KILN_DATA_DIR"] == "/var/lib/kiln"
    assert env["KILN_QUEUE_DRAIN_TIMEOUT"] == "10"
    assert {"name": "jobs", "emptyDir": {}} in pod["volumes"]
    assert {"name": "jobs", "mountPath": "/var/lib/kiln"} in pod["containers"][0]["volumeMounts"]
    assert network.jobs_volume_claim(OWNER, spec) is None
    assert build(spec_body)["spec"]["strategy"]["type"] == "RollingUpdate"


def test_baked_adapters_set_directory_only() -> None:
    spec_body = {"image": "kiln:1", "model": {"size": "1Gi"},
                 "adapters": {"path": "/opt/kiln/adapters", "cacheCount": 10}}
    env = env_of(spec_body)
    pod = pod_spec(spec_body)

    assert env["KILN_ADAPTERS_DIR"] == "/opt/kiln/adapters"
    assert env["KILN_ADAPTER_CACHE_BYTES"] == str(256 * 2**20)
    assert env["KILN_ADAPTER_CACHE_COUNT"] == "10"
    assert [volume["name"] for volume in pod["volumes"]] == ["tmp"]


def test_adapter_claim_mounted_read_only() -> None:
    spec_body = example_spec("adapters.yaml")
    env = env_of(spec_body)
    pod = pod_spec(spec_body)

    assert env["KILN_ADAPTERS_DIR"] == "/opt/kiln/adapters"
    assert env["KILN_ADAPTER_CACHE_BYTES"] == str(512 * 2**20)
    assert {"name": "adapters", "persistentVolumeClaim": {
        "claimName": "kiln-adapters", "readOnly": True}} in pod["volumes"]
    assert {"name": "adapters", "mountPath": "/opt/kiln/adapters", "readOnly": True} in \
        pod["containers"][0]["volumeMounts"]


@pytest.mark.parametrize("base", [
    pytest.param({"model": {"size": "1Gi"}}, id="local"),
    pytest.param({"model": {"size": "70Gi"}, "device": {"type": "gpu"}}, id="gpu"),
    pytest.param({"backend": {"url": "http://tei:8080"}}, id="gateway"),
])
def test_adapter_cache_adds_memory(base: dict[str, Any]) -> None:
    plain = {"image": "kiln:1", **base}
    with_adapters = {**plain, "adapters": {"path": "/opt/kiln/adapters", "cacheBytes": "512Mi"}}

    before = pod_spec(plain)["containers"][0]["resources"]
    after = pod_spec(with_adapters)["containers"][0]["resources"]

    for key in ("requests", "limits"):
        assert mebibytes(after[key]["memory"]) - mebibytes(before[key]["memory"]) == 512


def mebibytes(quantity: str) -> int:
    size: int = parse_bytes(quantity, field="memory")
    return size // 2**20


def test_sqlite_volume_forces_recreate() -> None:
    spec_body = example_spec("minilm.yaml")
    spec, _, _ = effective_tuning(spec_body, 0)

    claim = network.jobs_volume_claim(OWNER, spec)

    assert build(spec_body)["spec"]["strategy"]["type"] == "Recreate"
    assert claim is not None
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert {"name": "jobs", "persistentVolumeClaim": {"claimName": "model-jobs"}} in \
        pod_spec(spec_body)["volumes"]


@pytest.mark.parametrize(("replicas", "expected"), [
    pytest.param(1, False, id="one-replica"),
    pytest.param(3, True, id="three-replicas"),
])
def test_disruption_budget_only_above_one(replicas: int, expected: bool) -> None:
    spec, _, _ = effective_tuning({"image": "kiln:1", "model": {"size": 1}, "replicas": replicas},
                                  0)

    assert (network.disruption_budget(OWNER, spec) is not None) == expected


def test_children_owned_in_same_namespace() -> None:
    child = build(example_spec("minilm.yaml"))
    reference = child["metadata"]["ownerReferences"][0]

    assert child["metadata"]["namespace"] == OWNER.namespace
    assert reference["uid"] == OWNER.uid
    assert reference["controller"] is True
    assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kiln-operator"


def test_progress_deadline_exceeds_startup_budget() -> None:
    spec_body = example_spec("gpu-70gi.yaml")
    _, tuning, _ = effective_tuning(spec_body, 0)

    assert build(spec_body)["spec"]["progressDeadlineSeconds"] > tuning.startup_budget_seconds


def test_template_hash_tracks_template() -> None:
    small = build({"image": "kiln:1", "model": {"size": "1Gi"}})
    big = build({"image": "kiln:1", "model": {"size": "70Gi"}})
    scaled = build({"image": "kiln:1", "model": {"size": "1Gi"}, "replicas": 4})

    hash_key = "kiln.dev/pod-template-hash"
    assert small["metadata"]["annotations"][hash_key] != big["metadata"]["annotations"][hash_key]
    assert small["metadata"]["annotations"][hash_key] == scaled["metadata"]["annotations"][hash_key]


def test_is_applied_tolerates_server_defaults() -> None:
    desired = {"spec": {"containers": [{"name": "a", "image": "x"}], "nodeSelector": None}}
    live = {"spec": {"containers": [{"name": "a", "image": "x", "terminationMessagePath": "/t"}],
                     "dnsPolicy": "ClusterFirst"}}

    assert is_applied(desired, live)
    assert not is_applied(desired, {"spec": {**live["spec"], "nodeSelector": {"a": "b"}}})


def test_patch_body_removes_dropped_selector_keys() -> None:
    path = ("spec", "nodeSelector")
    desired = {"spec": {"nodeSelector": {"keep": "1"}}}
    live = {"spec": {"nodeSelector": {"keep": "1", "drop": "2"}}}

    assert patch_body(desired, live, [path]) == {
        "spec": {"nodeSelector": {"keep": "1", "drop": None}}}
