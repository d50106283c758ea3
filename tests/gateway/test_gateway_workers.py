"""Several worker processes behind one port, for the gateway and for a model on a CPU."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from harness.load import InFlight, wait_for_metric
from harness.server_process import ServerProcess

BODY = {"input": "hello there"}


def worker_pids(supervisor: ServerProcess) -> list[int]:
    pid = supervisor.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start_gateway(backend: ServerProcess) -> ServerProcess:
    gateway = ServerProcess("--backend", backend.base_url, "--workers", "2")
    gateway.wait_ready(timeout=30)
    return gateway


def test_two_gateway_workers_serve(slow_backend: ServerProcess) -> None:
    with start_gateway(slow_backend) as gateway:
        pids = worker_pids(gateway)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda _: httpx.post(gateway.url("/v1/embeddings"), json=BODY, timeout=30),
                    range(8),
                )
            )

    assert len(pids) == 2
    assert [response.status_code for response in statuses] == [200] * 8


def test_sigterm_drains_every_worker(slow_backend: ServerProcess) -> None:
    with start_gateway(slow_backend) as gateway:
        requests = InFlight(gateway.url("/v1/embeddings"), BODY, count=4).start()
        wait_for_metric(slow_backend.url("/metrics"), "kiln_inflight_requests", 4)
        gateway.signal(signal.SIGTERM)
        code = gateway.wait_exit(timeout=30)
        outcomes = requests.join()
        log = gateway.log()

    assert code == 0, log
    assert [outcome.status for outcome in outcomes] == [200] * 4
    assert log.count("backend connection pool closed") == 2
    assert log.strip().splitlines()[-1].split(": ", 1)[1].startswith("exit 0: 2 workers")


def test_dead_worker_stops_supervisor(slow_backend: ServerProcess) -> None:
    with start_gateway(slow_backend) as gateway:
        first, second = worker_pids(gateway)
        os.kill(first, signal.SIGKILL)
        code = gateway.wait_exit(timeout=30)
        log = gateway.log()

    assert code == 1, log
    assert f"worker {first} exited with -9 without a signal" in log
    assert not running(second)


def test_dead_supervisor_stops_workers(slow_backend: ServerProcess) -> None:
    with start_gateway(slow_backend) as gateway:
        pids = worker_pids(gateway)
        gateway.signal(signal.SIGKILL)
        gateway.wait_exit(timeout=10)
        deadline = time.monotonic() + 30
        while any(running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        log = gateway.log()

    assert not any(running(pid) for pid in pids), log


def test_two_local_workers_on_cpu(synthetic_model: Path) -> None:
    with ServerProcess("--workers", "2", model_dir=synthetic_model) as server:
        server.wait_ready(timeout=60)
        pids = worker_pids(server)
        response = httpx.post(server.url("/v1/embeddings"), json=BODY, timeout=30)
        server.signal(signal.SIGTERM)
        code = server.wait_exit(timeout=30)

    assert len(pids) == 2
    assert response.status_code == 200
    assert code == 0
