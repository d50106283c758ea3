"""A backend outage takes the gateway out of the endpoints without restarting it."""

from __future__ import annotations

import signal
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from harness.kubelet import Probe
from harness.server_process import ServerProcess, free_port

CHECK_INTERVAL = 1.0
# A check takes a few milliseconds on loopback, and the kubelet probes every 0.1 s; the
# rest of the margin absorbs a busy test machine.
MARGIN = 1.5


def wait_for_probe(probe: Probe, ok: bool, timeout: float) -> float:
    """Return when `probe` first got a result with `ok`, after the call; fail after `timeout`."""
    started = time.monotonic()
    seen = len(probe.results)
    while time.monotonic() - started < timeout:
        for result in probe.results[seen:]:
            if result.ok is ok:
                return result.sent_at
        time.sleep(0.05)
    raise AssertionError(f"readiness was not {'200' if ok else '503'} within {timeout} s")


def test_outage_and_recovery(synthetic_model: Path) -> None:
    port = free_port()
    backend_url = f"http://127.0.0.1:{port}"
    args = ["--backend", backend_url, "--backend-check-interval", str(CHECK_INTERVAL)]
    with ExitStack() as stack:
        backend = stack.enter_context(ServerProcess(model_dir=synthetic_model, port=port))
        backend.wait_ready()
        gateway = stack.enter_context(ServerProcess(*args))
        gateway.wait_ready(timeout=30)
        readiness = Probe(gateway.url("/readyz")).start()
        liveness = Probe(gateway.url("/livez")).start()
        stack.callback(readiness.stop)
        stack.callback(liveness.stop)

        backend.signal(signal.SIGTERM)
        assert backend.wait_exit(timeout=30) == 0
        stopped_at = time.monotonic()
        unready_at = wait_for_probe(readiness, ok=False, timeout=CHECK_INTERVAL + MARGIN)
        reason = httpx.get(gateway.url("/readyz"), timeout=5).json()["checks"]["backend"]
        during_outage = httpx.post(gateway.url("/v1/embeddings"), json={"input": "x"}, timeout=10)

        restarted = stack.enter_context(ServerProcess(model_dir=synthetic_model, port=port))
        restarted.wait_ready()
        restarted_at = time.monotonic()
        ready_at = wait_for_probe(readiness, ok=True, timeout=CHECK_INTERVAL + MARGIN)
        after_recovery = httpx.post(gateway.url("/v1/embeddings"), json={"input": "x"}, timeout=10)
        liveness.stop()
        gateway_alive = gateway.process.poll() is None

    assert unready_at - stopped_at <= CHECK_INTERVAL + MARGIN
    assert "is unreachable" in reason
    assert backend_url in reason
    assert during_outage.status_code == 503
    assert "Retry-After" in during_outage.headers
    assert ready_at - restarted_at <= CHECK_INTERVAL + MARGIN
    assert after_recovery.status_code == 200
    assert liveness.results
    assert not liveness.would_act()
    assert all(result.ok for result in liveness.results)
    assert gateway_alive
