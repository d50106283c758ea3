"""The operator's Prometheus endpoint, read over HTTP while it reconciles against the emulator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from emulator.client import KubeRest
from emulator.fixtures import OPERATOR_TOKEN
from emulator.operator_thread import free_port, wait_for
from emulator.running import RunningEmulator
from operator_cluster import (
    Cluster,
    deployments,
    events,
    modelservice,
    modelservices,
    wait_for_object,
    wait_for_status,
)
from prometheus_client.parser import text_string_to_metric_families
from test_learning_flow import create_pod, ready_status, set_pod_status

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """GET the metrics page and return every sample by name and sorted labels."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def reconciles(cluster: Cluster, result: str) -> float:
    return scrape(cluster.operator.metrics_url)[
        ("kiln_operator_reconciles_total", (("result", result),))]


def watched_modelservices(cluster: Cluster) -> float:
    return sum(value for (name, _), value in scrape(cluster.operator.metrics_url).items()
               if name == "kiln_operator_modelservices")


def test_create_counts_ok_reconcile(cluster: Cluster, namespace: str) -> None:
    before = reconciles(cluster, "ok")

    cluster.api.create(modelservices(namespace), modelservice("counted"))
    wait_for_status(cluster.api, modelservices(namespace, "counted"), lambda s: s.get("tuning"))

    assert reconciles(cluster, "ok") > before


def test_create_observes_duration(cluster: Cluster, namespace: str) -> None:
    name = ("kiln_operator_reconcile_duration_seconds_count", ())
    before = scrape(cluster.operator.metrics_url)[name]

    cluster.api.create(modelservices(namespace), modelservice("timed"))
    wait_for_status(cluster.api, modelservices(namespace, "timed"), lambda s: s.get("tuning"))

    assert scrape(cluster.operator.metrics_url)[name] > before


def test_invalid_spec_counted(cluster: Cluster, namespace: str) -> None:
    before = reconciles(cluster, "invalid_spec")

    cluster.api.create(modelservices(namespace), modelservice("zero", model={"size": "0"}))
    wait_for_status(cluster.api, modelservices(namespace, "zero"),
                    lambda s: s.get("phase") == "Degraded")

    assert reconciles(cluster, "invalid_spec") == before + 1


def test_phase_gauge_follows_objects(cluster: Cluster, namespace: str) -> None:
    before = watched_modelservices(cluster)

    cluster.api.create(modelservices(namespace), modelservice("gauged"))
    wait_for(lambda: watched_modelservices(cluster) == before + 1, message="the gauge to rise")
    cluster.api.delete(modelservices(namespace, "gauged"))

    wait_for(lambda: watched_modelservices(cluster) == before, message="the gauge to fall")


def test_degraded_phase_counted(cluster: Cluster, namespace: str) -> None:
    label = ("kiln_operator_modelservices", (("phase", "Degraded"),))
    before = scrape(cluster.operator.metrics_url)[label]

    cluster.api.create(modelservices(namespace), modelservice("broken", model={"size": "0"}))

    wait_for(lambda: scrape(cluster.operator.metrics_url)[label] == before + 1,
             message="one more Degraded ModelService in the gauge")


def test_budget_raise_counted(cluster: Cluster, namespace: str) -> None:
    label = ("kiln_operator_startup_budget_raises_total", (("trigger", "slow_ready"),))
    before = scrape(cluster.operator.metrics_url)[label]
    cluster.api.create(modelservices(namespace), modelservice("slow"))
    wait_for_object(cluster.api, deployments(namespace, "slow"))
    create_pod(cluster, namespace, "slow", "slow-1")

    set_pod_status(cluster, namespace, "slow-1", ready_status("2026-01-01T10:00:41Z"))
    wait_for(lambda: events(cluster.api, namespace, "StartupBudgetRaised"), message="the event")

    assert scrape(cluster.operator.metrics_url)[label] == before + 1


def kiln_operator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kiln_operator", "operator", "-A", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_rejects_invalid_port() -> None:
    finished = kiln_operator("--metrics-port", "70000")

    assert finished.returncode == 2
    assert "--metrics-port 70000 is not a TCP port" in finished.stderr


def test_cli_reports_busy_port(api_emulator: RunningEmulator, tmp_path: Path) -> None:
    kubeconfig = api_emulator.write_kubeconfig(tmp_path / "op.kubeconfig", OPERATOR_TOKEN)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = kiln_operator("--kubeconfig", str(kubeconfig), "--metrics-port", str(port))

    assert finished.returncode == 2
    assert f"Cannot serve metrics on 127.0.0.1:{port}" in finished.stderr


def test_cli_serves_metrics(api_emulator: RunningEmulator, admin_api: KubeRest,
                            tmp_path: Path) -> None:
    kubeconfig = api_emulator.write_kubeconfig(tmp_path / "op.kubeconfig", OPERATOR_TOKEN)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln_operator", "operator", "-A", "--kubeconfig", str(kubeconfig),
         "--liveness", f"http://127.0.0.1:{free_port()}/healthz",
         "--metrics-port", str(port), "--metrics-address", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "KUBECONFIG": "/nonexistent"})
    url = f"http://127.0.0.1:{port}/metrics"
    ok = ("kiln_operator_reconciles_total", (("result", "ok"),))
    try:
        admin_api.create(modelservices("cli"), modelservice("scraped"))

        wait_for(lambda: _scrape_or_empty(url).get(ok, 0) >= 1, timeout=30,
                 message="an ok reconcile on the metrics endpoint")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _scrape_or_empty(url: str) -> Samples:
    try:
        return scrape(url)
    except OSError:
        return {}
