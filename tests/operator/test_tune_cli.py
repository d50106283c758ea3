"""`kiln tune` and `kiln operator` as a user runs them, in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from emulator.client import KubeRest
from emulator.fixtures import OPERATOR_TOKEN, OPERATOR_USER
from emulator.operator_thread import free_port, wait_for
from emulator.running import RunningEmulator
from operator_cluster import deployments, modelservice, modelservices, wait_for_object

from kiln_operator.fragment import pod_fragment
from kiln_operator.reconcile import effective_tuning
from kiln_operator.tuning_table import table

REPOSITORY = Path(__file__).resolve().parents[2]


def kiln_operator(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kiln_operator", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_tune_json_matches_operator() -> None:
    result = kiln_operator("tune", "--size", "70Gi", "--throughput", "1Gi", "--device", "gpu",
                           "--output", "json")
    spec = {"image": "x", "model": {"size": "70Gi", "loadThroughput": "1Gi"},
            "device": {"type": "gpu"}}
    _, tuning, _ = effective_tuning(spec, 0)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == pod_fragment(tuning)


def test_tune_json_uses_kubernetes_names() -> None:
    result = kiln_operator("tune", "--size", "1Gi", "--output", "json")
    fragment: dict[str, Any] = json.loads(result.stdout)
    container = fragment["containers"][0]

    assert set(fragment) == {"terminationGracePeriodSeconds", "containers"}
    assert set(container) == {"name", "startupProbe", "readinessProbe", "livenessProbe",
                              "lifecycle", "env"}
    assert {item["name"] for item in container["env"]} == {
        "KILN_DRAIN_DELAY", "KILN_REQUEST_TIMEOUT", "KILN_LOAD_TIMEOUT"}


def test_tune_jobs_matches_operator() -> None:
    result = kiln_operator("tune", "--size", "2Gi", "--jobs", "--queue-drain", "40",
                           "--output", "json")
    spec = {"image": "x", "model": {"size": "2Gi"}, "timing": {"queueDrainSeconds": 40},
            "jobs": {"volumeSize": "1Gi"}}
    _, tuning, _ = effective_tuning(spec, 0)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == pod_fragment(tuning)


def test_tune_jobs_lengthen_grace() -> None:
    without = json.loads(kiln_operator("tune", "--size", "2Gi", "--output", "json").stdout)
    with_jobs = json.loads(kiln_operator("tune", "--size", "2Gi", "--jobs", "--output",
                                         "json").stdout)
    env = {item["name"]: item["value"] for item in with_jobs["containers"][0]["env"]}

    assert with_jobs["terminationGracePeriodSeconds"] >= \
        without["terminationGracePeriodSeconds"] + 10 + 30
    assert env["KILN_QUEUE_DRAIN_TIMEOUT"] == "10"


def test_tune_queue_drain_needs_jobs() -> None:
    result = kiln_operator("tune", "--size", "2Gi", "--queue-drain", "40")

    assert result.returncode == 2
    assert "--queue-drain applies only with --jobs" in result.stderr
    assert "Traceback" not in result.stderr


def test_tune_yaml_equals_json() -> None:
    as_yaml = kiln_operator("tune", "--size", "7Gi", "--backend", "--output", "yaml")
    as_json = kiln_operator("tune", "--size", "7Gi", "--output", "json")
    default = kiln_operator("tune", "--size", "7Gi")

    assert as_yaml.returncode == 2
    assert "--size and --backend exclude each other" in as_yaml.stderr
    assert yaml.safe_load(default.stdout) == json.loads(as_json.stdout)


def test_tune_rejects_bad_size() -> None:
    result = kiln_operator("tune", "--size", "seventy")

    assert result.returncode == 2
    assert "--size: 'seventy' is not a byte quantity" in result.stderr
    assert "Traceback" not in result.stderr


def test_tune_warns_above_an_hour() -> None:
    result = kiln_operator("tune", "--size", "400Gi", "--device", "gpu")

    assert result.returncode == 0
    assert "over an hour" in result.stderr


def test_tuning_table_is_current() -> None:
    assert (REPOSITORY / "docs" / "tuning.md").read_text(encoding="utf-8") == table()


def test_cli_module_imports_nothing_heavy() -> None:
    code = ("import sys, kiln_operator.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kopf', 'kubernetes')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)

    assert result.stdout.strip() == "[]"


def test_operator_watches_only_its_namespace(api_emulator: RunningEmulator,
                                             admin_api: KubeRest, tmp_path: Path) -> None:
    kubeconfig = api_emulator.write_kubeconfig(tmp_path / "op.kubeconfig", OPERATOR_TOKEN)
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln_operator", "operator", "--namespace", "watched",
         "--kubeconfig", str(kubeconfig), "--liveness", liveness, "--retry-delay", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "KUBECONFIG": "/nonexistent"})
    try:
        wait_for(lambda: _healthy(liveness), timeout=30, message="the operator's liveness")
        admin_api.create(modelservices("other"), modelservice("cli"))
        admin_api.create(modelservices("watched"), modelservice("cli"))
        wait_for_object(admin_api, deployments("watched", "cli"))
        time.sleep(1.0)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)

    assert process.returncode == 0, output
    assert not admin_api.exists(deployments("other", "cli"))
    assert {request.namespace for request in api_emulator.requests(user=OPERATOR_USER)
            if request.resource} == {"watched"}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_kiln_command_runs_tune() -> None:
    pytest.importorskip("kiln_service.cli")
    through_kiln = subprocess.run(
        [sys.executable, "-m", "kiln_service", "tune", "--size", "3Gi", "--output", "json"],
        capture_output=True, text=True, timeout=60, check=False)
    direct = kiln_operator("tune", "--size", "3Gi", "--output", "json")

    assert through_kiln.returncode == 0, through_kiln.stderr
    assert json.loads(through_kiln.stdout) == json.loads(direct.stdout)
