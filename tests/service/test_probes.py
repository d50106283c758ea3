"""Probes as the kubelet observes them, through load, warm-up, serving, drain and exit."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness.kubelet import Probe
from harness.load import InFlight, wait_for_metric
from harness.model_files import bake_synthetic
from harness.server_process import ServerProcess


@pytest.fixture(scope="module")
def slow_start_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(
        tmp_path_factory.mktemp("slow-start"), filler_bytes=256 * 1024 * 1024, forward_delay=0.7
    )


@pytest.fixture(scope="module")
def lifetime(slow_start_model: Path) -> tuple[ServerProcess, Probe, Probe, float | None]:
    """Run one server from start to exit with probes on; return it and the probes."""
    # A drain delay, as the operator sets in a cluster, keeps the listener open after
    # SIGTERM long enough for the probes to observe the draining state.
    with ServerProcess("--drain-delay", "1", model_dir=slow_start_model) as server:
        liveness = Probe(server.url("/livez"), period=0.05, timeout=1.0).start()
        readiness = Probe(server.url("/readyz"), period=0.05, timeout=1.0).start()
        server.wait_ready()
        time.sleep(0.3)

        request = InFlight(server.url("/v1/embeddings"), {"input": "in flight"}, count=1).start()
        wait_for_metric(server.url("/metrics"), "kiln_inflight_requests", 1)
        server.signal(signal.SIGTERM)
        assert server.wait_exit(timeout=30) == 0
        assert [o.status for o in request.join()] == [200]
        liveness.stop()
        readiness.stop()
    return server, liveness, readiness, server.signalled_at


def state_of(body: str) -> str:
    return str(json.loads(body)["state"])


def test_liveness_never_fails_while_listening(lifetime: tuple) -> None:  # type: ignore[type-arg]
    _, liveness, _, signalled_at = lifetime
    listening = [r for r in liveness.results if r.status is not None]
    first = listening[0].sent_at
    last = listening[-1].sent_at
    during = [r for r in liveness.results if first <= r.sent_at <= last]
    assert all(r.ok for r in during), [r for r in during if not r.ok]
    assert any(r.sent_at > (signalled_at or 0) for r in listening)


def test_liveness_answers_during_load(lifetime: tuple) -> None:  # type: ignore[type-arg]
    _, liveness, _, _ = lifetime
    states = {state_of(r.body) for r in liveness.results if r.ok}
    assert {"loading", "warming", "ready", "draining"} <= states


def test_readiness_false_until_warm_up_done(lifetime: tuple) -> None:  # type: ignore[type-arg]
    _, _, readiness, _ = lifetime
    first_ready = readiness.first_success()
    assert first_ready is not None
    before = [r for r in readiness.results if r.sent_at < first_ready.sent_at and r.status]
    assert before, "no readiness probe answered before the server was ready"
    assert all(r.status == 503 for r in before)
    assert "warming" in {state_of(r.body) for r in before}


def test_readiness_only_true_when_ready(lifetime: tuple) -> None:  # type: ignore[type-arg]
    _, _, readiness, _ = lifetime
    assert all(state_of(r.body) == "ready" for r in readiness.results if r.ok)


def test_readiness_false_from_sigterm(lifetime: tuple) -> None:  # type: ignore[type-arg]
    _, _, readiness, signalled_at = lifetime
    after = [r for r in readiness.results if r.sent_at > (signalled_at or 0) + 0.01]
    assert after
    assert not any(r.ok for r in after)
    assert "draining" in {state_of(r.body) for r in after if r.status}


def test_readiness_reports_load_progress(lifetime: tuple) -> None:  # type: ignore[type-arg]
    _, _, readiness, _ = lifetime
    bodies = [json.loads(r.body) for r in readiness.results if r.status]
    totals = {b["progress"]["bytes_total"] for b in bodies if b["progress"]["bytes_total"]}
    assert len(totals) == 1
    assert totals.pop() > 256 * 1024 * 1024


def test_probes_answer_while_cpu_saturated(minilm_dir: Path) -> None:
    long_inputs = {"input": ["a sentence that keeps the encoder busy " * 40] * 32}
    with ServerProcess(model_dir=minilm_dir) as server:
        server.wait_ready()
        stop = threading.Event()

        def saturate() -> None:
            with httpx.Client(timeout=60) as client:
                while not stop.is_set():
                    client.post(server.url("/v1/embeddings"), json=long_inputs)

        workers = [threading.Thread(target=saturate) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        liveness = Probe(server.url("/livez"), period=0.1, timeout=1.0).start()
        readiness = Probe(server.url("/readyz"), period=0.1, timeout=1.0).start()
        time.sleep(4)
        liveness.stop()
        readiness.stop()
        stop.set()
        for worker in workers:
            worker.join()

    assert liveness.results and readiness.results
    assert all(r.ok for r in liveness.results)
    assert all(r.ok for r in readiness.results)
