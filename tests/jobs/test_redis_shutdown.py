"""The Redis job store across SIGTERM, SIGKILL and a replica that dies holding a job.

Every test starts its own redis-server, and reads the outcome of each job from Redis once
the servers are done, so a job stored twice or lost fails the test.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from harness.server_process import ServerProcess
from jobs.job_client import (
    JOB_SECONDS,
    LONG_JOB_INPUTS,
    ONE_INPUT_PER_PASS,
    Submitter,
    drain_summary,
    submit_jobs,
    wait_for_running,
    wait_until_done,
)
from jobs.redis_server import RedisServer
from jobs.stored_jobs import StoredJob, assert_each_completed_once, read_redis_jobs

pytestmark = pytest.mark.redis

DRAIN_SECONDS = 1.0
# Seconds after which a live consumer takes over jobs that a stopped consumer left pending.
RECLAIM_SECONDS = 1.5


def start_server(model: Path, redis: RedisServer, *args: str) -> ServerProcess:
    env = {"KILN_REDIS_URL": redis.url, "KILN_JOB_RECLAIM_IDLE": str(RECLAIM_SECONDS)}
    return ServerProcess(*args, model_dir=model, env=env)


def finish_all(model: Path, redis: RedisServer, job_ids: list[str]) -> str:
    """Start a server, wait for every job, stop it cleanly; return its log."""
    with start_server(model, redis, "--job-workers", "16") as server:
        server.wait_ready()
        wait_until_done(server, job_ids)
        server.signal(signal.SIGTERM)
        assert server.wait_exit(30) == 0, server.log()
        return server.log()


def running_on(redis: RedisServer, pid: int, timeout: float = 30) -> str:
    """Return the id of a job that the server with process id `pid` is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job_id, job in read_redis_jobs(redis.client()).items():
            if job.state == "running" and job.consumer.endswith(f"-{pid}"):
                return job_id
        time.sleep(0.05)
    raise AssertionError(f"no job running on process {pid} within {timeout} s")


def test_sigterm_keeps_queued_jobs(slow_model: Path, redis_server: RedisServer) -> None:
    drain = ("--queue-drain-timeout", str(DRAIN_SECONDS), *ONE_INPUT_PER_PASS)
    with start_server(slow_model, redis_server, *drain) as server:
        server.wait_ready()
        accepted = submit_jobs(server, 8, inputs_per_job=2)
        wait_for_running(server, list(accepted))
        server.signal(signal.SIGTERM)
        code = server.wait_exit(30)
        summary = drain_summary(server.log())
    between = read_redis_jobs(redis_server.client())

    assert code == 0
    assert summary["finished"] >= 1
    assert summary["unfinished"] >= 1
    # The job running at the deadline finishes: two forward passes at most.
    assert summary["seconds"] < DRAIN_SECONDS + 2 * JOB_SECONDS + 1
    assert "running" not in {job.state for job in between.values()}

    finish_all(slow_model, redis_server, list(accepted))
    stored = read_redis_jobs(redis_server.client())
    assert_each_completed_once(stored, accepted)
    assert {job.attempts for job in stored.values()} == {1}, stored


def test_sigkill_reruns_interrupted_job(slow_model: Path, redis_server: RedisServer) -> None:
    with start_server(slow_model, redis_server, *ONE_INPUT_PER_PASS) as server:
        server.wait_ready()
        accepted = submit_jobs(server, 4, inputs_per_job=LONG_JOB_INPUTS)
        submitter = Submitter(server).start()
        running = wait_for_running(server, list(accepted))
        server.signal(signal.SIGKILL)
        server.wait_exit(10)
        accepted.update(submitter.stop())
    between = read_redis_jobs(redis_server.client())

    assert between[running].state == "running"

    restart_log = finish_all(slow_model, redis_server, list(accepted))
    stored = read_redis_jobs(redis_server.client())
    assert_each_completed_once(stored, accepted)
    assert stored[running].attempts == 2
    assert "took over" in restart_log


def test_replica_takes_over_killed_consumer(slow_model: Path, redis_server: RedisServer) -> None:
    with (
        start_server(slow_model, redis_server, *ONE_INPUT_PER_PASS) as doomed,
        start_server(slow_model, redis_server, *ONE_INPUT_PER_PASS) as survivor,
    ):
        doomed.wait_ready()
        survivor.wait_ready()
        accepted = submit_jobs(doomed, 4, inputs_per_job=LONG_JOB_INPUTS)
        taken_over = running_on(redis_server, doomed.process.pid)
        doomed.signal(signal.SIGKILL)
        doomed.wait_exit(10)

        wait_until_done(survivor, list(accepted))
        survivor.signal(signal.SIGTERM)
        assert survivor.wait_exit(30) == 0, survivor.log()
        survivor_log = survivor.log()
    stored: dict[str, StoredJob] = read_redis_jobs(redis_server.client())

    assert_each_completed_once(stored, accepted)
    assert stored[taken_over].attempts == 2
    assert stored[taken_over].consumer.endswith(f"-{survivor.process.pid}")
    takeovers = [line for line in survivor_log.splitlines() if "took over" in line]
    assert any(taken_over in line for line in takeovers), survivor_log


def test_paused_consumer_result_discarded(slow_model: Path, redis_server: RedisServer) -> None:
    """A consumer paused past the reclaim time loses its job, and its late result is dropped."""
    with (
        start_server(slow_model, redis_server, *ONE_INPUT_PER_PASS) as paused,
        start_server(slow_model, redis_server, *ONE_INPUT_PER_PASS) as other,
    ):
        paused.wait_ready()
        other.wait_ready()
        accepted = submit_jobs(other, 4, inputs_per_job=LONG_JOB_INPUTS)
        taken_over = running_on(redis_server, paused.process.pid)
        paused.signal(signal.SIGSTOP)
        wait_until_done(other, list(accepted))
        paused.signal(signal.SIGCONT)
        wait_for_finished_run(paused)
        for server in (paused, other):
            server.signal(signal.SIGTERM)
            assert server.wait_exit(30) == 0, server.log()
        paused_log = paused.log()
    stored = read_redis_jobs(redis_server.client())

    assert_each_completed_once(stored, accepted)
    assert stored[taken_over].attempts == 2
    assert stored[taken_over].consumer.endswith(f"-{other.process.pid}")
    assert f"job {taken_over} already had an outcome" in paused_log


def wait_for_finished_run(server: ServerProcess, timeout: float = 30) -> None:
    """Wait until a job run in `server` has ended, whatever its outcome."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = httpx.get(server.url("/metrics"), timeout=5).text
        runs = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("kiln_jobs_finished_total{")
        )
        if runs >= 1:
            return
        time.sleep(0.1)
    raise AssertionError(f"no job run ended within {timeout} s:\n{server.log()}")
