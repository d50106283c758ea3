"""The SQLite job store: one database file in WAL mode, used by one server process.

Every transaction commits with `synchronous=FULL`, so a job acknowledged with 202 is on disk
and survives a crash of the process or of the machine. One connection, used from one
thread, runs every statement in order; WAL lets the file be read by other programs (a
backup, a test) while the server writes. The settings allow this store only with one
server process, so a job found `running` when the store opens was interrupted by a crash
and is queued again.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import numpy as np

from kiln_service.jobs import sqlite_schema as schema
from kiln_service.jobs.records import (
    FINAL_STATES,
    Delivery,
    Job,
    JobResult,
    JobState,
    NewJob,
    StartedJob,
    parse_inputs,
    vectors_from_bytes,
)
from kiln_service.jobs.store import StoreUnavailable
from kiln_service.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
DATABASE_NAME = "jobs.sqlite3"
# How long `fetch` waits for a submission before it returns no deliveries.
FETCH_WAIT_SECONDS = 1.0


class SQLiteJobStore:
    prefetch = 64

    def __init__(self, settings: Settings) -> None:
        assert settings.data_dir is not None
        self.path = settings.data_dir / DATABASE_NAME
        self.description = f"SQLite job store at {self.path}"
        self.problem: str | None = None
        self._max_bytes = settings.job_store_max_bytes
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiln-jobs-sqlite")
        self._connection: sqlite3.Connection | None = None
        self._fetched_up_to = 0
        self._submitted = asyncio.Event()

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(
                f"Cannot create the job store directory {self.path.parent} (KILN_DATA_DIR): "
                f"{error.strerror}. Create it or mount a writable volume there.",
                code="store_error",
            ) from error
        requeued, unfinished = await self._call(self._open)
        logger.info(
            "job store opened: %s; %d unfinished jobs, %d of them interrupted by the previous "
            "process and queued again",
            self.description,
            unfinished,
            requeued,
        )

    def _open(self) -> tuple[int, int]:
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=10
        )
        self._connection = connection
        journal_mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(journal_mode).lower() != "wal":
            logger.warning(
                "the job store at %s runs in journal mode %s, not WAL; SQLite needs a local "
                "file system for WAL, so check the volume behind KILN_DATA_DIR",
                self.path,
                journal_mode,
            )
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        if self._max_bytes:
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            connection.execute(f"PRAGMA max_page_count = {max(1, self._max_bytes // page_size)}")
        with _transaction(connection):
            for statement in schema.CREATE:
                connection.execute(statement)
            requeued = connection.execute(schema.REQUEUE_RUNNING).rowcount
        unfinished = connection.execute(schema.COUNT_UNFINISHED).fetchone()[0]
        return requeued, int(unfinished)

    async def close(self) -> None:
        if self._connection is not None:
            await self._call(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        assert self._connection is not None
        try:
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._connection.close()
            self._connection = None

    async def submit(self, job: NewJob) -> tuple[Job, bool]:
        stored, created = await self._call(self._submit, job)
        if created:
            self._submitted.set()
        return stored, created

    def _submit(self, job: NewJob) -> tuple[Job, bool]:
        connection = self._db()
        with _transaction(connection):
            if job.idempotency_key is not None:
                row = connection.execute(schema.SELECT_BY_KEY, (job.idempotency_key,)).fetchone()
                if row is not None:
                    return _job(row), False
            connection.execute(
                schema.INSERT_JOB,
                (
                    job.id,
                    job.idempotency_key,
                    job.input_digest,
                    job.inputs_json.decode(),
                    len(job.inputs),
                    JobState.QUEUED.value,
                    job.created_at,
                ),
            )
        return job.as_job(), True

    async def get(self, job_id: str) -> Job | None:
        row = await self._call(self._query_one, schema.SELECT_JOB, (job_id,))
        return None if row is None else _job(row)

    async def read_vectors(self, job: Job, offset: int, limit: int) -> np.ndarray:
        dimensions = job.dimensions or 0
        row_bytes = 4 * dimensions
        parameters = (offset * row_bytes + 1, limit * row_bytes, job.id)
        row = await self._call(self._query_one, schema.SELECT_VECTORS, parameters)
        return vectors_from_bytes(row[0] if row else b"", dimensions)

    async def fetch(self, limit: int) -> list[Delivery]:
        self._submitted.clear()
        parameters = (self._fetched_up_to, limit)
        rows = await self._call(self._query_all, schema.SELECT_QUEUED, parameters)
        if not rows:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._submitted.wait(), FETCH_WAIT_SECONDS)
            return []
        self._fetched_up_to = max(int(sequence) for sequence, _ in rows)
        return [Delivery(job_id) for _, job_id in rows]

    async def start(self, delivery: Delivery) -> StartedJob | None:
        return await self._call(self._start, delivery.job_id)

    def _start(self, job_id: str) -> StartedJob | None:
        connection = self._db()
        with _transaction(connection):
            if connection.execute(schema.MARK_RUNNING, (time.time(), job_id)).rowcount == 0:
                return None
            inputs, attempts = connection.execute(schema.SELECT_INPUTS, (job_id,)).fetchone()
        return StartedJob(parse_inputs(inputs), int(attempts))

    async def extend(self, delivery: Delivery) -> None:
        """Nothing to do: no other process takes jobs from this store."""

    async def complete(self, delivery: Delivery, result: JobResult) -> bool:
        return await self._call(self._complete, delivery.job_id, result)

    def _complete(self, job_id: str, result: JobResult) -> bool:
        connection = self._db()
        with _transaction(connection):
            row = connection.execute(schema.SELECT_STATE, (job_id,)).fetchone()
            if row is None or JobState(row[0]) in FINAL_STATES:
                return False
            inserted = connection.execute(
                schema.INSERT_RESULT, (job_id, result.vector_bytes())
            ).rowcount
            if inserted == 0:
                return False
            connection.execute(
                schema.MARK_DONE,
                (time.time(), result.model, result.dimensions, result.total_tokens, job_id),
            )
        return True

    async def fail(self, delivery: Delivery, message: str) -> bool:
        parameters = (time.time(), message, delivery.job_id)
        return await self._call(self._write, schema.MARK_FAILED, parameters)

    async def release(self, delivery: Delivery) -> None:
        await self._call(self._write, schema.MARK_QUEUED, (delivery.job_id,))

    async def check(self) -> str | None:
        if self.problem is None:
            await self._call(self._query_one, "SELECT 1", ())
        else:
            await self._call(self._probe_write)
            self.problem = None
        return self.problem

    def _probe_write(self) -> None:
        """Write and delete one page of data, to learn whether a full store has room again."""
        connection = self._db()
        with _transaction(connection):
            connection.execute(schema.INSERT_PROBE)
        with _transaction(connection):
            connection.execute(schema.DELETE_PROBE)

    async def unfinished(self) -> int:
        row = await self._call(self._query_one, schema.COUNT_UNFINISHED, ())
        return int(row[0]) if row else 0

    async def purge(self, finished_before: float) -> int:
        return await self._call(self._purge, finished_before)

    def _purge(self, finished_before: float) -> int:
        connection = self._db()
        with _transaction(connection):
            connection.execute(schema.DELETE_OLD_RESULTS, (finished_before,))
            return connection.execute(schema.DELETE_OLD_JOBS, (finished_before,)).rowcount

    def _write(self, statement: str, parameters: tuple[Any, ...]) -> bool:
        connection = self._db()
        with _transaction(connection):
            return connection.execute(statement, parameters).rowcount > 0

    def _query_one(self, statement: str, parameters: tuple[Any, ...]) -> Any:
        return self._db().execute(statement, parameters).fetchone()

    def _query_all(self, statement: str, parameters: tuple[Any, ...]) -> list[Any]:
        return self._db().execute(statement, parameters).fetchall()

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise sqlite3.OperationalError("the job store is not open")
        return self._connection

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except sqlite3.Error as error:
            unavailable = self._unavailable(error)
            self.problem = unavailable.message
            raise unavailable from error

    def _unavailable(self, error: sqlite3.Error) -> StoreUnavailable:
        if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return StoreUnavailable(
                f"The SQLite job store at {self.path} is full ({error}). Free space on its "
                "volume, raise KILN_JOB_STORE_MAX_BYTES or lower KILN_JOB_RETENTION.",
                code="store_full",
            )
        return StoreUnavailable(
            f"The SQLite job store at {self.path} failed: {error}. Check the volume that "
            "KILN_DATA_DIR names and that this user may write to it.",
            code="store_error",
        )


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        state=JobState(row[1]),
        input_count=row[2],
        created_at=row[3],
        input_digest=row[4],
        idempotency_key=row[5],
        attempts=row[6],
        started_at=row[7],
        finished_at=row[8],
        error=row[9],
        model=row[10],
        dimensions=row[11],
        total_tokens=row[12],
    )
