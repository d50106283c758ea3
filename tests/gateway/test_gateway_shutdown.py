"""SIGTERM on a gateway: forwarded requests complete, then the connection pool closes."""

from __future__ import annotations

import signal

from gateway.conftest import SLOW_FORWARD_SECONDS
from harness.load import InFlight, wait_for_metric
from harness.server_process import ServerProcess

# ResourceWarning is hidden by default; a socket or transport left open at exit prints one.
WARNINGS_ON = {"PYTHONWARNINGS": "always", "PYTHONTRACEMALLOC": "1"}
BODY = {"input": "hello there"}


def test_inflight_requests_complete(slow_backend: ServerProcess) -> None:
    with ServerProcess("--backend", slow_backend.base_url, env=WARNINGS_ON) as gateway:
        gateway.wait_ready(timeout=30)
        requests = InFlight(gateway.url("/v1/embeddings"), BODY, count=3).start()
        wait_for_metric(gateway.url("/metrics"), "kiln_inflight_requests", 3)
        gateway.signal(signal.SIGTERM)
        code = gateway.wait_exit(timeout=30)
        outcomes = requests.join()
        log = gateway.log()

    assert code == 0, log
    assert [outcome.status for outcome in outcomes] == [200, 200, 200]
    assert all(outcome.seconds >= SLOW_FORWARD_SECONDS for outcome in outcomes)


def test_pool_closes_without_warnings(slow_backend: ServerProcess) -> None:
    with ServerProcess("--backend", slow_backend.base_url, env=WARNINGS_ON) as gateway:
        gateway.wait_ready(timeout=30)
        requests = InFlight(gateway.url("/v1/embeddings"), BODY, count=2).start()
        wait_for_metric(gateway.url("/metrics"), "kiln_inflight_requests", 2)
        gateway.signal(signal.SIGTERM)
        assert gateway.wait_exit(timeout=30) == 0
        requests.join()
        log = gateway.log()

    milestones = ["draining:", "in-flight drained", "backend connection pool closed", "exit 0"]
    positions = [log.find(milestone) for milestone in milestones]
    assert -1 not in positions, log
    assert positions == sorted(positions)
    assert "after 2 forwarded requests" in log
    assert "ResourceWarning" not in log
    assert "unclosed" not in log.lower()
