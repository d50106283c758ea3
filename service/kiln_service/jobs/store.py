"""The job store interface that the SQLite and Redis stores implement.

A store keeps every accepted job until it has a final state, and hands jobs to this
process as deliveries. Delivery is at least once: when a process dies while it runs a job,
the store delivers that job again. `complete` and `fail` are idempotent, keyed by job id, so
a job delivered twice still gets one result and reaches its final state once.
"""

from __future__ import annotations

import os
import socket
from typing import Literal, Protocol

import numpy as np

from kiln_service.jobs.records import Delivery, Job, JobResult, NewJob, StartedJob
from kiln_service.settings import Settings

StoreProblem = Literal["store_full", "store_unreachable", "store_error"]


class StoreUnavailable(Exception):
    """The store failed or cannot be reached; `code` names the kind of failure."""

    def __init__(self, message: str, *, code: StoreProblem) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class JobStore(Protocol):
    description: str
    # Deliveries this process fetches ahead of its idle workers.
    prefetch: int
    # The last failure seen, as a sentence, until a `check` succeeds; None when healthy.
    problem: str | None

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, job: NewJob) -> tuple[Job, bool]:
        """Store `job` durably, or return the job stored under its idempotency key.

        Returns the stored job and whether this call created it.
        """
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def read_vectors(self, job: Job, offset: int, limit: int) -> np.ndarray: ...

    async def fetch(self, limit: int) -> list[Delivery]:
        """Return up to `limit` jobs to run, waiting about a second when there are none."""
        ...

    async def start(self, delivery: Delivery) -> StartedJob | None:
        """Mark the job running and count the attempt; None when it needs no run."""
        ...

    async def extend(self, delivery: Delivery) -> None:
        """Tell the store that this process still has the delivery, so no other takes it."""
        ...

    async def complete(self, delivery: Delivery, result: JobResult) -> bool:
        """Store the result unless the job already has a final state; return True if stored."""
        ...

    async def fail(self, delivery: Delivery, message: str) -> bool: ...

    async def release(self, delivery: Delivery) -> None:
        """Give back a delivery that was not finished, so it runs later or elsewhere."""
        ...

    async def check(self) -> str | None:
        """Probe the store, update `problem` and return it."""
        ...

    async def unfinished(self) -> int:
        """Count the jobs in the store without a final state."""
        ...

    async def purge(self, finished_before: float) -> int: ...


def consumer_name() -> str:
    """This process's name towards the store: host name and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


def create_store(settings: Settings) -> JobStore:
    """Build the store that the settings select; nothing is opened yet."""
    if settings.job_store == "redis":
        from kiln_service.jobs.redis_store import RedisJobStore

        return RedisJobStore(settings, consumer_name())

    from kiln_service.jobs.sqlite_store import SQLiteJobStore

    return SQLiteJobStore(settings)
