"""The `helm test` Pod: it reaches the operator's health endpoint through the chart's Service,
and its check passes against a running operator."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest
from chart_manifests import RELEASE_NAMESPACE, only_object, render_objects
from emulator.fixtures import OPERATOR_TOKEN, start_emulator
from emulator.operator_thread import OperatorThread

URL_LINE = re.compile(r'^url = "(?P<url>[^"]+)"$', re.MULTILINE)


def health_check_script(objects: list[dict[str, Any]]) -> str:
    container = only_object(objects, "Pod")["spec"]["containers"][0]
    assert container["command"] == ["python3", "-c"]
    script: str = container["args"][0]
    return script


def test_pod_is_test_hook(chart: helm_python.Chart) -> None:
    annotations = only_object(render_objects(chart), "Pod")["metadata"]["annotations"]

    assert annotations["helm.sh/hook"] == "test"


def test_url_targets_health_service(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, {"healthPort": 9090})
    service = only_object(objects, "Service")
    port = service["spec"]["ports"][0]
    match = URL_LINE.search(health_check_script(objects))

    assert match is not None
    assert match["url"] == (
        f"http://{service['metadata']['name']}.{RELEASE_NAMESPACE}.svc:{port['port']}/healthz"
    )
    assert port == {"name": "health", "port": 9090, "targetPort": "health", "protocol": "TCP"}


def test_service_selects_operator_pod(chart: helm_python.Chart) -> None:
    objects = render_objects(chart)
    selector = only_object(objects, "Service")["spec"]["selector"]
    pod_labels = only_object(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]

    assert selector.items() <= pod_labels.items()


@pytest.fixture
def running_operator(tmp_path: Path) -> Iterator[OperatorThread]:
    emulator = start_emulator()
    kubeconfig = emulator.write_kubeconfig(tmp_path / "operator.kubeconfig", OPERATOR_TOKEN)
    operator = OperatorThread(kubeconfig).start()
    try:
        yield operator
    finally:
        operator.stop()
        emulator.stop()


def test_check_passes_on_running_operator(
    chart: helm_python.Chart, running_operator: OperatorThread
) -> None:
    script = health_check_script(render_objects(chart))
    # The Pod reaches the operator through its Service; here the operator runs in this process.
    local_script = URL_LINE.sub(f'url = "{running_operator.liveness_url}"', script)

    finished = subprocess.run(
        [sys.executable, "-c", local_script], capture_output=True, text=True, timeout=90
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"GET {running_operator.liveness_url}: 200" in finished.stdout
