"""`podman stop` with a grace period, as the kubelet stops a pod, while requests are in flight.

The image serves a synthetic model whose every forward pass takes a fixed time, so the
requests are certain to be in flight when the stop signal arrives.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from containers import Container

from harness.kubelet import Probe, Result
from harness.load import InFlight, Outcome, wait_for_metric
from harness.server_process import free_port

pytestmark = pytest.mark.image

READY_TIMEOUT = 120.0
GRACE_SECONDS = 20
DRAIN_DELAY_SECONDS = 1.0
IN_FLIGHT = 2


@dataclass
class Stopped:
    stop_started: float
    stop_seconds: float
    state: dict[str, Any]
    log: str
    outcomes: list[Outcome]
    readiness: list[Result]


def wait_ready(container: Container, base_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        container.assert_running()
        try:
            if httpx.get(base_url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready within {READY_TIMEOUT} s:\n{container.logs()}")


@pytest.fixture(scope="module")
def stopped(slow_server_image: str) -> Stopped:
    """Serve, start requests, then `podman stop` the container and collect what happened."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "PORT": str(port),
        "KILN_HOST": "127.0.0.1",
        "KILN_DRAIN_DELAY": str(DRAIN_DELAY_SECONDS),
        # One request per forward pass, so the second request waits for the first.
        "KILN_MAX_BATCH_SIZE": "1",
    }
    with Container(slow_server_image, "--network", "host", env=env) as container:
        wait_ready(container, base_url)
        readiness = Probe(base_url + "/readyz", period=0.05).start()
        requests = InFlight(base_url + "/v1/embeddings", {"input": "in flight"}, count=IN_FLIGHT)
        requests.start()
        wait_for_metric(base_url + "/metrics", "kiln_inflight_requests", IN_FLIGHT)

        stop_started = time.monotonic()
        stop_seconds = container.stop(GRACE_SECONDS)
        outcomes = requests.join()
        return Stopped(
            stop_started=stop_started,
            stop_seconds=stop_seconds,
            state=container.state(),
            log=container.logs(),
            outcomes=outcomes,
            readiness=readiness.stop(),
        )


def test_exit_zero_within_grace(stopped: Stopped) -> None:
    assert stopped.state["ExitCode"] == 0, stopped.log
    assert stopped.stop_seconds < GRACE_SECONDS


def test_inflight_requests_complete(stopped: Stopped) -> None:
    assert [outcome.status for outcome in stopped.outcomes] == [200] * IN_FLIGHT


def test_readiness_drops_on_stop(stopped: Stopped) -> None:
    after_stop = [r for r in stopped.readiness if r.sent_at >= stopped.stop_started]
    first_failure = next(index for index, r in enumerate(after_stop) if not r.ok)
    answered = [r for r in after_stop[first_failure:] if r.status is not None]
    assert not any(r.ok for r in after_stop[first_failure:])
    assert answered, "no readiness probe was answered between the stop and the exit"
    assert all(r.status == 503 for r in answered)
    assert "draining" in {json.loads(r.body)["state"] for r in answered}


def test_shutdown_log_is_ordered(stopped: Stopped) -> None:
    milestones = ["draining:", "stopped accepting", "in-flight drained", "model released", "exit 0"]
    positions = [stopped.log.find(milestone) for milestone in milestones]
    assert -1 not in positions, stopped.log
    assert positions == sorted(positions), stopped.log
