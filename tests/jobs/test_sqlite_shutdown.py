"""SIGTERM and SIGKILL with jobs in flight: after a restart every accepted job is done once.

The outcome is read from the SQLite file after the last server has exited, so a job that
ran twice and stored two outcomes, or one that was lost, fails the test.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

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
from jobs.stored_jobs import assert_each_completed_once, read_sqlite_jobs

DRAIN_SECONDS = 1.0


def start_server(model: Path, data_dir: Path, *args: str) -> ServerProcess:
    server = ServerProcess(*args, model_dir=model, env={"KILN_DATA_DIR": str(data_dir)})
    return server.wait_ready()


def finish_all(model: Path, data_dir: Path, job_ids: list[str]) -> str:
    """Restart the server, wait for every job, stop it cleanly; return its log.

    Many workers let the model batch the jobs' inputs, so the jobs share forward passes.
    """
    with start_server(model, data_dir, "--job-workers", "16") as server:
        wait_until_done(server, job_ids)
        server.signal(signal.SIGTERM)
        assert server.wait_exit(30) == 0, server.log()
        return server.log()


def test_sigterm_keeps_queued_jobs(slow_model: Path, tmp_path: Path) -> None:
    drain = ("--queue-drain-timeout", str(DRAIN_SECONDS), *ONE_INPUT_PER_PASS)
    with start_server(slow_model, tmp_path, *drain) as server:
        accepted = submit_jobs(server, 8, inputs_per_job=2)
        wait_for_running(server, list(accepted))
        server.signal(signal.SIGTERM)
        code = server.wait_exit(30)
        summary = drain_summary(server.log())
    between = read_sqlite_jobs(tmp_path)

    assert code == 0
    assert summary["finished"] >= 1
    assert summary["unfinished"] >= 1
    # The job running at the deadline finishes: two forward passes at most.
    assert summary["seconds"] < DRAIN_SECONDS + 2 * JOB_SECONDS + 1
    assert "running" not in {job.state for job in between.values()}

    restart_log = finish_all(slow_model, tmp_path, list(accepted))
    stored = read_sqlite_jobs(tmp_path)
    assert_each_completed_once(stored, accepted)
    assert {job.attempts for job in stored.values()} == {1}, stored
    assert "0 of them interrupted" in restart_log


def test_sigkill_reruns_interrupted_job(slow_model: Path, tmp_path: Path) -> None:
    with start_server(slow_model, tmp_path, *ONE_INPUT_PER_PASS) as server:
        accepted = submit_jobs(server, 4, inputs_per_job=LONG_JOB_INPUTS)
        submitter = Submitter(server).start()
        running = wait_for_running(server, list(accepted))
        server.signal(signal.SIGKILL)
        server.wait_exit(10)
        accepted.update(submitter.stop())
    between = read_sqlite_jobs(tmp_path)

    assert between[running].state == "running"

    restart_log = finish_all(slow_model, tmp_path, list(accepted))
    stored = read_sqlite_jobs(tmp_path)
    assert_each_completed_once(stored, accepted)
    assert stored[running].attempts == 2
    assert "1 of them interrupted" in restart_log


def test_draining_rejects_new_jobs(slow_model: Path, tmp_path: Path) -> None:
    with start_server(slow_model, tmp_path, "--drain-delay", "3") as server:
        accepted = submit_jobs(server, 1)
        server.signal(signal.SIGTERM)
        server.wait_until("/readyz", 503, timeout=5)
        rejected = httpx.post(server.url("/v1/jobs"), json={"input": ["late"]}, timeout=5)
        existing = httpx.get(server.url(f"/v1/jobs/{next(iter(accepted))}"), timeout=5)
        assert server.wait_exit(30) == 0, server.log()

    assert rejected.status_code == 503
    assert rejected.headers["retry-after"] == "1"
    assert rejected.json()["error"]["code"] == "shutting_down"
    assert existing.status_code == 200
