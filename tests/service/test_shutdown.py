"""SIGTERM as the kubelet sends it: readiness drops, in-flight work completes, exit 0."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from harness.load import InFlight, wait_for_metric
from harness.model_files import bake_synthetic
from harness.server_process import ServerProcess

FORWARD_SECONDS = 1.5
BODY = {"input": "hello there"}


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(tmp_path_factory.mktemp("slow"), forward_delay=FORWARD_SECONDS)


@pytest.fixture(scope="module")
def big_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(tmp_path_factory.mktemp("big"), filler_bytes=1024**3)


def evict_from_page_cache(model_dir: Path) -> None:
    for path in model_dir.iterdir():
        with path.open("rb") as stream:
            os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def wait_for_load_progress(server: ServerProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            body = httpx.get(server.url("/readyz"), timeout=1).json()
            if body["progress"]["bytes_loaded"] > 0:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"no load progress within 30 s:\n{server.log()}")


def test_inflight_requests_complete(slow_model: Path) -> None:
    with ServerProcess("--max-batch-size", "1", model_dir=slow_model) as server:
        server.wait_ready()
        requests = InFlight(server.url("/v1/embeddings"), BODY, count=3).start()
        wait_for_metric(server.url("/metrics"), "kiln_inflight_requests", 3)

        server.signal(signal.SIGTERM)
        code = server.wait_exit(timeout=30)
        elapsed = time.monotonic() - (server.signalled_at or 0)
        outcomes = requests.join()
        log = server.log()

    assert code == 0, log
    assert [o.status for o in outcomes] == [200, 200, 200]
    # Three passes take 4.5 s; the margin covers start-up noise on a loaded machine.
    assert elapsed < 3 * FORWARD_SECONDS + 10


def test_shutdown_log_is_ordered(slow_model: Path) -> None:
    with ServerProcess(model_dir=slow_model) as server:
        server.wait_ready()
        requests = InFlight(server.url("/v1/embeddings"), BODY, count=1).start()
        wait_for_metric(server.url("/metrics"), "kiln_inflight_requests", 1)
        server.signal(signal.SIGTERM)
        assert server.wait_exit(timeout=30) == 0
        requests.join()
        log = server.log()

    milestones = ["draining:", "stopped accepting", "in-flight drained", "model released", "exit 0"]
    positions = [log.find(milestone) for milestone in milestones]
    assert -1 not in positions, log
    assert positions == sorted(positions)
    exit_line = log[log.find("exit 0:") :].splitlines()[0]
    drain_delay = float(exit_line.split("drain delay ")[1].split(" s")[0])
    assert 0 <= drain_delay < 0.5, exit_line


def test_drain_delay_keeps_serving(slow_model: Path) -> None:
    with ServerProcess("--drain-delay", "3", model_dir=slow_model) as server:
        server.wait_ready()
        server.signal(signal.SIGTERM)
        time.sleep(0.2)
        readiness = httpx.get(server.url("/readyz"), timeout=2)
        liveness = httpx.get(server.url("/livez"), timeout=2)
        during_delay = httpx.post(server.url("/v1/embeddings"), json=BODY, timeout=10)
        code = server.wait_exit(timeout=30)
        elapsed = time.monotonic() - (server.signalled_at or 0)

    assert readiness.status_code == 503
    assert readiness.json()["state"] == "draining"
    assert liveness.status_code == 200
    assert during_delay.status_code == 200
    assert code == 0
    assert elapsed >= 3


def test_sigterm_while_loading_exits_promptly(big_model: Path) -> None:
    evict_from_page_cache(big_model)
    with ServerProcess(model_dir=big_model) as server:
        wait_for_load_progress(server)
        server.signal(signal.SIGTERM)
        code = server.wait_exit(timeout=30)
        elapsed = time.monotonic() - (server.signalled_at or 0)
        log = server.log()

    assert code == 0, log
    assert "load cancelled after" in log
    assert elapsed < 5


def test_load_timeout_exits_non_zero(big_model: Path) -> None:
    evict_from_page_cache(big_model)
    with ServerProcess("--load-timeout", "0.2", model_dir=big_model) as server:
        code = server.wait_exit(timeout=30)
        log = server.log()

    assert code == 1
    assert "timed out after 0.2 s (KILN_LOAD_TIMEOUT)" in log
    assert "bytes read" in log


def test_second_signal_exits_at_once(slow_model: Path) -> None:
    with ServerProcess("--max-batch-size", "1", model_dir=slow_model) as server:
        server.wait_ready()
        requests = InFlight(server.url("/v1/embeddings"), BODY, count=3).start()
        wait_for_metric(server.url("/metrics"), "kiln_inflight_requests", 3)
        server.signal(signal.SIGTERM)
        time.sleep(0.3)
        server.signal(signal.SIGINT)
        code = server.wait_exit(timeout=10)
        elapsed = time.monotonic() - (server.signalled_at or 0)
        requests.join()
        log = server.log()

    assert code == 1
    assert elapsed < 1.0
    assert "second SIGINT received" in log


def test_not_ready_requests_get_503(slow_model: Path) -> None:
    with ServerProcess(model_dir=slow_model) as server:
        server.wait_until("/livez", 200)
        response = httpx.post(server.url("/v1/embeddings"), json=BODY, timeout=10)
        server.wait_ready()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "retry when /readyz returns 200" in response.json()["error"]["message"]


def test_full_inflight_queue_gets_503(slow_model: Path) -> None:
    with ServerProcess("--max-inflight", "2", model_dir=slow_model) as server:
        server.wait_ready()
        requests = InFlight(server.url("/v1/embeddings"), BODY, count=2).start()
        wait_for_metric(server.url("/metrics"), "kiln_inflight_requests", 2)
        response = httpx.post(server.url("/v1/embeddings"), json=BODY, timeout=10)
        requests.join()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "KILN_MAX_INFLIGHT=2" in response.json()["error"]["message"]


def test_timed_out_request_frees_the_model(slow_model: Path) -> None:
    # Eight one-input chunks take 12 s. After the first request times out at 4 s, the
    # next one waits at most for the chunk in progress plus its own pass: 3 s.
    options = ("--max-batch-size", "1", "--request-timeout", "4")
    with ServerProcess(*options, model_dir=slow_model) as server:
        server.wait_ready()
        many = httpx.post(
            server.url("/v1/embeddings"), json={"input": [f"t{i}" for i in range(8)]}, timeout=30
        )
        next_one = httpx.post(server.url("/v1/embeddings"), json=BODY, timeout=30)
        server.signal(signal.SIGTERM)
        code = server.wait_exit(timeout=30)
        elapsed = time.monotonic() - (server.signalled_at or 0)

    assert many.status_code == 504
    assert next_one.status_code == 200
    assert code == 0
    assert elapsed < 2 * FORWARD_SECONDS + 5


# Before the interpreter has imported kiln (about 0.1 s) SIGTERM still has its default action.
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.2])
def test_early_sigterm_exits_zero(slow_model: Path, delay: float) -> None:
    with ServerProcess(model_dir=slow_model) as server:
        time.sleep(delay)
        server.signal(signal.SIGTERM)
        code = server.wait_exit(timeout=30)
        log = server.log()
    assert code == 0, log
    assert "second SIGTERM" not in log


def test_sighup_drains_like_sigterm(slow_model: Path) -> None:
    with ServerProcess(model_dir=slow_model) as server:
        server.wait_ready()
        server.signal(signal.SIGHUP)
        code = server.wait_exit(timeout=30)
        log = server.log()
    assert code == 0
    assert "draining: SIGHUP received" in log


def test_repeated_sigterm_counts_once(slow_model: Path) -> None:
    with ServerProcess(model_dir=slow_model) as server:
        server.wait_ready()
        requests = InFlight(server.url("/v1/embeddings"), BODY, count=1).start()
        wait_for_metric(server.url("/metrics"), "kiln_inflight_requests", 1)
        server.signal(signal.SIGTERM)
        server.signal(signal.SIGTERM)
        code = server.wait_exit(timeout=30)
        outcomes = requests.join()
    assert code == 0
    assert [o.status for o in outcomes] == [200]
