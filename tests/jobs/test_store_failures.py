"""A full or unreachable store: new jobs get 503 naming the cause, accepted ones finish.

Readiness turns 503 with the cause, so no new work is routed to the server, while liveness
stays 200, because restarting the server would not fix the store.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from harness.server_process import ServerProcess
from jobs.job_client import job_inputs, submit_jobs, wait_until_done
from jobs.redis_server import RedisServer
from jobs.stored_jobs import assert_each_completed_once, read_redis_jobs, read_sqlite_jobs

# Room for the schema and a few jobs of FILLER_CHARACTERS each.
STORE_LIMIT_BYTES = 128 * 1024
FILLER_CHARACTERS = 3000


def stop(server: ServerProcess) -> None:
    server.signal(signal.SIGTERM)
    assert server.wait_exit(30) == 0, server.log()


def fill_store(server: ServerProcess) -> tuple[dict[str, int], httpx.Response]:
    """Submit large jobs until one is rejected; return the accepted ones and the rejection."""
    accepted: dict[str, int] = {}
    for index in range(200):
        text = f"{index} " + "x" * FILLER_CHARACTERS
        response = httpx.post(server.url("/v1/jobs"), json={"input": [text]}, timeout=10)
        if response.status_code != 202:
            return accepted, response
        accepted[response.json()["id"]] = 1
    raise AssertionError(f"the store took 200 jobs despite a limit of {STORE_LIMIT_BYTES} bytes")


def test_full_sqlite_store_rejects_new_jobs(slow_model: Path, tmp_path: Path) -> None:
    env = {"KILN_DATA_DIR": str(tmp_path), "KILN_JOB_STORE_MAX_BYTES": str(STORE_LIMIT_BYTES)}
    options = ("--request-timeout", "2", "--queue-drain-timeout", "0")
    with ServerProcess(*options, model_dir=slow_model, env=env) as server:
        server.wait_ready()
        accepted, rejected = fill_store(server)
        ready = httpx.get(server.url("/readyz"), timeout=5)
        live = httpx.get(server.url("/livez"), timeout=5)
        stop(server)

    assert len(accepted) >= 1
    assert rejected.status_code == 503, rejected.text
    assert rejected.json()["error"]["code"] == "store_full"
    assert "is full" in rejected.json()["error"]["message"]
    assert "retry-after" in rejected.headers
    assert ready.status_code == 503
    assert "is full" in ready.json()["checks"]["jobs"]
    assert live.status_code == 200

    restart_env = {"KILN_DATA_DIR": str(tmp_path)}
    with ServerProcess("--job-workers", "16", model_dir=slow_model, env=restart_env) as server:
        server.wait_ready()
        wait_until_done(server, list(accepted))
        stop(server)
    assert_each_completed_once(read_sqlite_jobs(tmp_path), accepted)


@pytest.mark.redis
def test_unreachable_redis_rejects_new_jobs(slow_model: Path, redis_server: RedisServer) -> None:
    env = {"KILN_REDIS_URL": redis_server.url}
    with ServerProcess(model_dir=slow_model, env=env) as server:
        server.wait_ready()
        accepted = submit_jobs(server, 3)
        redis_server.stop()
        rejected = httpx.post(server.url("/v1/jobs"), json={"input": job_inputs(99)}, timeout=10)
        server.wait_until("/readyz", 503, timeout=10)
        ready = httpx.get(server.url("/readyz"), timeout=5)
        live = httpx.get(server.url("/livez"), timeout=5)

        redis_server.start()
        server.wait_ready(timeout=30)
        wait_until_done(server, list(accepted))
        stop(server)

    assert rejected.status_code == 503, rejected.text
    assert rejected.json()["error"]["code"] == "store_unreachable"
    assert "unreachable" in rejected.json()["error"]["message"]
    assert redis_server.url in rejected.json()["error"]["message"]
    assert ready.status_code == 503
    assert "unreachable" in ready.json()["checks"]["jobs"]
    assert live.status_code == 200
    assert_each_completed_once(read_redis_jobs(redis_server.client()), accepted)
