"""Submitting jobs to a real server and waiting for their outcome over HTTP."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import httpx

from harness.server_process import ServerProcess

DRAIN_LINE = re.compile(
    r"job queue drained in (?P<seconds>[\d.]+) s \(deadline [\d.]+ s\): (?P<finished>\d+) jobs "
    r"finished, (?P<left>\d+) left for later .*; (?P<unfinished>\d+) unfinished jobs remain"
)


# One forward pass of the test model, and so one single-input job, takes this long.
JOB_SECONDS = 0.5
# With `--max-batch-size 1` a job of this many inputs takes this many forward passes, long
# enough that a job seen running is still running when the test kills the server.
LONG_JOB_INPUTS = 4
ONE_INPUT_PER_PASS = ("--max-batch-size", "1")


def job_inputs(index: int, count: int = 1) -> list[str]:
    return [f"document {index} sentence {position}" for position in range(count)]


def submit_jobs(server: ServerProcess, count: int, inputs_per_job: int = 1) -> dict[str, int]:
    """Submit `count` jobs, each expecting 202; return job id -> number of inputs."""
    accepted: dict[str, int] = {}
    for index in range(count):
        response = httpx.post(
            server.url("/v1/jobs"), json={"input": job_inputs(index, inputs_per_job)}, timeout=10
        )
        assert response.status_code == 202, response.text
        accepted[response.json()["id"]] = inputs_per_job
    return accepted


def job_status(server: ServerProcess, job_id: str) -> str:
    response = httpx.get(server.url(f"/v1/jobs/{job_id}"), timeout=5)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def wait_for_running(server: ServerProcess, job_ids: list[str], timeout: float = 30) -> str:
    """Return the id of a job that is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job_id in job_ids:
            if job_status(server, job_id) == "running":
                return job_id
        time.sleep(0.05)
    raise AssertionError(f"no job started within {timeout} s:\n{server.log()}")


def wait_until_done(server: ServerProcess, job_ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    while pending and time.monotonic() < deadline:
        pending = {job_id for job_id in pending if job_status(server, job_id) != "done"}
        time.sleep(0.1)
    assert not pending, f"jobs not done within {timeout} s: {sorted(pending)}\n{server.log()}"


def drain_summary(log: str) -> dict[str, float]:
    match = DRAIN_LINE.search(log)
    assert match is not None, f"no drain summary in the log:\n{log}"
    return {name: float(value) for name, value in match.groupdict().items()}


@dataclass
class Submitter:
    """Submits jobs from a thread until stopped or the server goes away."""

    server: ServerProcess
    accepted: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Submitter:
        self._thread = threading.Thread(target=self._submit, daemon=True)
        self._thread.start()
        return self

    def _submit(self) -> None:
        index = 10_000
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                index += 1
                try:
                    response = client.post(
                        self.server.url("/v1/jobs"), json={"input": job_inputs(index)}
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 202:
                    self.accepted[response.json()["id"]] = 1
                time.sleep(0.01)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        return self.accepted
