"""The Redis job store: a stream read by a consumer group, shared by every replica.

A job is a hash (its state, inputs and counters) plus one entry in the stream. Each server
process is one consumer of the group. XREADGROUP hands an entry to one consumer and keeps
it in that consumer's pending list until the job's outcome is stored, which acknowledges
and deletes the entry in the same script. A consumer that dies leaves its entries pending;
they stop being extended, and after `job_reclaim_idle` seconds any live consumer takes them
over with XAUTOCLAIM. A consumer shutting down puts the jobs it did not finish back at the
end of the stream at once.

A 202 means Redis has applied the write. Whether that write survives a crash of Redis
itself depends on Redis's persistence settings (`appendonly yes` with `appendfsync always`
loses nothing).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable
from typing import Any

import numpy as np
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kiln_service.jobs import redis_scripts as scripts
from kiln_service.jobs.records import (
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
from kiln_service.settings import Settings, redact_url

logger = logging.getLogger(__name__)

GROUP = "kiln-workers"
FETCH_BLOCK_MS = 1000
# The job hash's fields that `get` reads: all but the inputs.
JOB_FIELDS = [
    "id",
    "state",
    "input_count",
    "created_at",
    "input_digest",
    "idempotency_key",
    "attempts",
    "started_at",
    "finished_at",
    "error",
    "model",
    "dimensions",
    "total_tokens",
]


class RedisJobStore:
    def __init__(self, settings: Settings, consumer: str) -> None:
        assert settings.redis_url is not None
        self.prefix = settings.redis_key_prefix
        self.stream = f"{self.prefix}:stream"
        self.consumer = consumer
        self.url = redact_url(settings.redis_url)
        self.description = f"Redis job store at {self.url}, stream {self.stream!r}"
        self.prefetch = settings.job_workers
        self.problem: str | None = None
        self._reclaim_idle_ms = int(settings.job_reclaim_idle * 1000)
        self._retention = max(1, int(settings.job_retention))
        self._client = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=2,
            socket_timeout=5 + FETCH_BLOCK_MS / 1000,
            retry=Retry(NoBackoff(), 0),
        )
        self._scripts = {
            name: self._client.register_script(getattr(scripts, name))
            for name in ("SUBMIT", "START", "FINISH", "RELEASE", "EXTEND", "LEAVE")
        }
        self._group_ready = False
        self._next_reclaim = 0.0
        self._reclaim_cursor = "0-0"

    def _job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _vectors_key(self, job_id: str) -> str:
        return f"{self.prefix}:vectors:{job_id}"

    def _idempotency_key(self, key: str | None, job_id: str) -> str:
        if key is None:
            return self._job_key(job_id)
        return f"{self.prefix}:idempotency:{hashlib.sha256(key.encode()).hexdigest()}"

    async def open(self) -> None:
        """Connect and create the consumer group; an unreachable Redis is retried later."""
        logger.info("job store: %s, consumer %s", self.description, self.consumer)
        try:
            await self._ensure_group()
        except StoreUnavailable as error:
            logger.warning("job store unavailable at start: %s", error.message)

    async def close(self) -> None:
        try:
            await self._run(self._scripts["LEAVE"](keys=[self.stream], args=[GROUP, self.consumer]))
        except StoreUnavailable as error:
            logger.warning("could not leave the consumer group: %s", error.message)
        await self._client.aclose()

    async def submit(self, job: NewJob) -> tuple[Job, bool]:
        fields: dict[str, str | int | float | bytes] = {
            "id": job.id,
            "state": JobState.QUEUED.value,
            "input_count": len(job.inputs),
            "created_at": job.created_at,
            "input_digest": job.input_digest,
            "inputs": job.inputs_json,
            "attempts": 0,
            "completions": 0,
        }
        if job.idempotency_key is not None:
            fields["idempotency_key"] = job.idempotency_key
        keys = [
            self._job_key(job.id),
            self._idempotency_key(job.idempotency_key, job.id),
            self.stream,
        ]
        args = [job.id, "1" if job.idempotency_key is not None else "0", *_pairs(fields)]
        created, job_id = await self._run(self._scripts["SUBMIT"](keys=keys, args=args))
        if created:
            return job.as_job(), True
        existing = await self.get(job_id.decode())
        if existing is None:
            raise StoreUnavailable(
                f"The idempotency key {job.idempotency_key!r} names job {job_id.decode()!r}, "
                f"which is missing from the {self.description}; retry with a new key.",
                code="store_error",
            )
        return existing, False

    async def get(self, job_id: str) -> Job | None:
        values = await self._run(self._client.hmget(self._job_key(job_id), JOB_FIELDS))
        if values[0] is None:
            return None
        return _job(
            {name: value.decode() for name, value in zip(JOB_FIELDS, values, strict=True) if value}
        )

    async def read_vectors(self, job: Job, offset: int, limit: int) -> np.ndarray:
        row_bytes = 4 * (job.dimensions or 0)
        if row_bytes == 0 or limit == 0:
            return vectors_from_bytes(b"", job.dimensions or 0)
        start = offset * row_bytes
        end = start + limit * row_bytes - 1
        raw = await self._run(self._client.getrange(self._vectors_key(job.id), start, end))
        return vectors_from_bytes(raw, row_bytes // 4)

    async def fetch(self, limit: int) -> list[Delivery]:
        await self._ensure_group()
        if time.monotonic() >= self._next_reclaim:
            claimed = await self._reclaim(limit)
            if claimed:
                return claimed
        reply = await self._run(
            self._client.xreadgroup(
                GROUP, self.consumer, {self.stream: ">"}, count=limit, block=FETCH_BLOCK_MS
            )
        )
        return [
            _delivery(entry_id, fields)
            for _, entries in reply or []
            for entry_id, fields in entries
        ]

    async def _reclaim(self, limit: int) -> list[Delivery]:
        """Take over entries that other consumers have not extended for `job_reclaim_idle`."""
        reply = await self._run(
            self._client.xautoclaim(
                self.stream,
                GROUP,
                self.consumer,
                min_idle_time=self._reclaim_idle_ms,
                start_id=self._reclaim_cursor,
                count=limit,
            )
        )
        cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        self._reclaim_cursor = cursor
        # A cursor of 0-0 means the scan reached the end; otherwise continue at once.
        if cursor == "0-0":
            self._next_reclaim = time.monotonic() + self._reclaim_idle_ms / 2000
        claimed = [_delivery(entry_id, fields) for entry_id, fields in reply[1] if fields]
        if claimed:
            logger.info(
                "took over %d jobs left pending by a stopped consumer: %s",
                len(claimed),
                ", ".join(delivery.job_id for delivery in claimed),
            )
        return claimed

    async def start(self, delivery: Delivery) -> StartedJob | None:
        keys = [self._job_key(delivery.job_id), self.stream]
        args: list[Any] = [GROUP, delivery.entry_id, self.consumer, time.time()]
        reply = await self._run(self._scripts["START"](keys=keys, args=args))
        if not reply:
            return None
        attempts, inputs = reply
        return StartedJob(parse_inputs(inputs), int(attempts))

    async def extend(self, delivery: Delivery) -> None:
        args = [GROUP, delivery.entry_id, self.consumer]
        await self._run(self._scripts["EXTEND"](keys=[self.stream], args=args))

    async def complete(self, delivery: Delivery, result: JobResult) -> bool:
        fields = {
            "state": JobState.DONE.value,
            "finished_at": time.time(),
            "model": result.model,
            "dimensions": result.dimensions,
            "total_tokens": result.total_tokens,
        }
        return await self._finish(delivery, result.vector_bytes(), fields)

    async def fail(self, delivery: Delivery, message: str) -> bool:
        fields = {"state": JobState.FAILED.value, "finished_at": time.time(), "error": message}
        return await self._finish(delivery, b"", fields)

    async def _finish(self, delivery: Delivery, vectors: bytes, fields: dict[str, Any]) -> bool:
        job_id = delivery.job_id
        key = await self._run(self._client.hget(self._job_key(job_id), "idempotency_key"))
        keys = [
            self._job_key(job_id),
            self._vectors_key(job_id),
            self.stream,
            self._idempotency_key(key.decode() if key else None, job_id),
        ]
        args: list[Any] = [GROUP, delivery.entry_id, self._retention, vectors, *_pairs(fields)]
        return bool(await self._run(self._scripts["FINISH"](keys=keys, args=args)))

    async def release(self, delivery: Delivery) -> None:
        keys = [self._job_key(delivery.job_id), self.stream]
        args = [GROUP, delivery.entry_id, delivery.job_id, self.consumer]
        await self._run(self._scripts["RELEASE"](keys=keys, args=args))

    async def check(self) -> str | None:
        await self._run(self._client.ping())
        await self._ensure_group()
        self.problem = None
        return None

    async def unfinished(self) -> int:
        return int(await self._run(self._client.xlen(self.stream)))

    async def purge(self, finished_before: float) -> int:
        """Nothing to do: finished jobs expire through their keys' time to live."""
        return 0

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._run(self._client.xgroup_create(self.stream, GROUP, id="0", mkstream=True))
        except StoreUnavailable as error:
            if "BUSYGROUP" not in error.message:
                raise
            self.problem = None
        self._group_ready = True

    async def _run(self, operation: Awaitable[Any] | Any) -> Any:
        """Await a redis-py call, turning its errors into StoreUnavailable."""
        try:
            return await operation
        except redis.RedisError as error:
            if str(error).startswith("NOGROUP"):
                # Redis lost the group (a restart without persistence): create it again.
                self._group_ready = False
            unavailable = self._unavailable(error)
            self.problem = unavailable.message
            raise unavailable from error

    def _unavailable(self, error: redis.RedisError) -> StoreUnavailable:
        if isinstance(error, redis.ConnectionError | redis.TimeoutError):
            return StoreUnavailable(
                f"The Redis job store at {self.url} is unreachable: {error}. Check that "
                "Redis runs and that KILN_REDIS_URL points to it.",
                code="store_unreachable",
            )
        if str(error).startswith("OOM"):
            return StoreUnavailable(
                f"The Redis job store at {self.url} is full: {error}. Raise Redis's "
                "maxmemory or lower KILN_JOB_RETENTION.",
                code="store_full",
            )
        return StoreUnavailable(
            f"The Redis job store at {self.url} failed: {error}.", code="store_error"
        )


def _pairs(fields: dict[str, Any]) -> list[Any]:
    return [item for pair in fields.items() for item in pair]


def _delivery(entry_id: bytes | str, fields: dict[bytes, bytes]) -> Delivery:
    entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return Delivery(job_id=fields[b"job"].decode(), entry_id=entry)


def _job(fields: dict[str, str]) -> Job:
    def number(name: str) -> float | None:
        return float(fields[name]) if name in fields else None

    def integer(name: str) -> int | None:
        return int(fields[name]) if name in fields else None

    return Job(
        id=fields["id"],
        state=JobState(fields["state"]),
        input_count=int(fields["input_count"]),
        created_at=float(fields["created_at"]),
        input_digest=fields.get("input_digest", ""),
        idempotency_key=fields.get("idempotency_key"),
        attempts=int(fields.get("attempts", 0)),
        started_at=number("started_at"),
        finished_at=number("finished_at"),
        error=fields.get("error"),
        model=fields.get("model"),
        dimensions=integer("dimensions"),
        total_tokens=integer("total_tokens"),
    )
