"""Workers that run jobs from an in-process `asyncio.Queue`, fed from the job store.

One feeder task fetches deliveries from the store and puts them on the queue, as long as
this process has fewer than `job_workers` plus the store's prefetch. `job_workers` tasks
take them off, run the embeddings through the model in chunks of `max_batch_size` (so HTTP
requests interleave with a long job), and store the outcome. A store that fails mid-job does not
lose the job: the worker keeps its result and retries the write every second.

Drain, at shutdown: the feeder stops, the workers keep taking jobs until `Queue.join()`
returns or the queue-drain deadline passes, then take no more. The jobs running then get
up to the request timeout to finish. Jobs still on the queue, and jobs that did not
finish, go back to the store, which runs them at the next start or on another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from kiln_service.api.errors import BadGateway, GatewayTimeout, Unavailable
from kiln_service.jobs.metrics import JobMetrics
from kiln_service.jobs.records import Delivery, JobResult
from kiln_service.jobs.store import JobStore, StoreUnavailable
from kiln_service.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
# A job started this many times without an outcome fails instead of running again, so a
# job that crashes the server cannot crash it forever.
MAX_ATTEMPTS = 3
STORE_RETRY_SECONDS = 1.0
# Seconds between tries of a chunk whose embeddings backend is unavailable, timed out or
# returned an invalid response. After the last try the job fails.
TRANSIENT_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class Embedder(Protocol):
    model_name: str

    async def embed(self, texts: list[str]) -> tuple[np.ndarray, list[int]]: ...


@dataclass(frozen=True)
class DrainReport:
    seconds: float
    finished: int
    queued_left: int
    interrupted: int


class JobRunner:
    def __init__(
        self,
        *,
        store: JobStore,
        embedder: Embedder,
        model_ready: asyncio.Event,
        settings: Settings,
        metrics: JobMetrics,
    ) -> None:
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.finished = 0
        self._store = store
        self._embedder = embedder
        self._model_ready = model_ready
        self._settings = settings
        self._metrics = metrics
        self._capacity = settings.job_workers + store.prefetch
        self._deliveries: set[Delivery] = set()
        self._running: dict[asyncio.Task[None], Delivery] = {}
        self._space = asyncio.Event()
        self._stopping = False
        self._starter: asyncio.Task[None] | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._extender: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._starter = asyncio.create_task(self._start_when_ready(), name="kiln-jobs-start")

    async def _start_when_ready(self) -> None:
        await self._model_ready.wait()
        self._feeder = asyncio.create_task(self._feed(), name="kiln-jobs-feeder")
        self._extender = asyncio.create_task(self._extend_deliveries(), name="kiln-jobs-extender")
        self._workers = [
            asyncio.create_task(self._work(), name=f"kiln-job-worker-{index}")
            for index in range(self._settings.job_workers)
        ]
        logger.info(
            "job workers started: %d workers on the %s",
            len(self._workers),
            self._store.description,
        )

    async def _feed(self) -> None:
        while True:
            space = self._capacity - len(self._deliveries)
            if space <= 0:
                self._space.clear()
                await self._space.wait()
                continue
            try:
                deliveries = await self._store.fetch(space)
            except StoreUnavailable as error:
                self._metrics.store_errors.labels(error.code).inc()
                await asyncio.sleep(STORE_RETRY_SECONDS)
                continue
            except Exception:
                logger.exception("fetching jobs from the %s failed", self._store.description)
                await asyncio.sleep(STORE_RETRY_SECONDS)
                continue
            for delivery in deliveries:
                if delivery not in self._deliveries:
                    self._deliveries.add(delivery)
                    self.queue.put_nowait(delivery)

    async def _extend_deliveries(self) -> None:
        """Keep the store from handing this process's deliveries to another consumer."""
        while True:
            await asyncio.sleep(self._settings.job_reclaim_idle / 3)
            for delivery in list(self._deliveries):
                try:
                    await self._store.extend(delivery)
                except StoreUnavailable:
                    break

    async def _work(self) -> None:
        worker = asyncio.current_task()
        assert worker is not None
        while not self._stopping:
            delivery = await self.queue.get()
            self._running[worker] = delivery
            try:
                await self._run(delivery)
            except Exception:
                # The job keeps its state in the store and runs again after a restart or,
                # with Redis, on another consumer; MAX_ATTEMPTS bounds the repeats.
                logger.exception("job %s: the worker failed and leaves the job", delivery.job_id)
            finally:
                del self._running[worker]
                self._deliveries.discard(delivery)
                self._space.set()
                self.queue.task_done()

    async def _run(self, delivery: Delivery) -> None:
        job_id = delivery.job_id
        started = await self._retry(job_id, self._store.start, delivery)
        if started is None:
            logger.debug("job %s needs no run: it is finished or expired", job_id)
            return
        if started.attempts > MAX_ATTEMPTS:
            message = (
                f"The job was started {started.attempts - 1} times without finishing, so "
                "it is not run again; the server may have crashed while running it. Check "
                "the server log, then submit it again."
            )
            await self._finish(job_id, "failed", self._store.fail, delivery, message)
            return

        logger.debug(
            "job %s started: %d inputs, attempt %d", job_id, len(started.inputs), started.attempts
        )
        began = time.monotonic()
        self._metrics.running.inc()
        try:
            result = await self._embed(job_id, started.inputs)
        except Exception as error:  # noqa: BLE001 - any failure of the model fails the job
            logger.error("job %s failed: %r", job_id, error)
            message = f"The embedding failed: {type(error).__name__}: {error}"
            await self._finish(job_id, "failed", self._store.fail, delivery, message)
            return
        finally:
            self._metrics.running.dec()
        await self._finish(job_id, "done", self._store.complete, delivery, result)
        self._metrics.duration.observe(time.monotonic() - began)
        logger.debug("job %s done in %.2f s", job_id, time.monotonic() - began)

    async def _finish(
        self,
        job_id: str,
        outcome: str,
        write: Callable[[Delivery, T], Awaitable[bool]],
        delivery: Delivery,
        value: T,
    ) -> None:
        stored = await self._retry(job_id, write, delivery, value)
        self.finished += 1
        if not stored:
            outcome = "duplicate"
            logger.info(
                "job %s already had an outcome from an earlier run; this run's is discarded",
                job_id,
            )
        self._metrics.finished.labels(outcome).inc()

    async def _embed(self, job_id: str, inputs: list[str]) -> JobResult:
        chunk = self._settings.max_batch_size
        parts: list[np.ndarray] = []
        tokens = 0
        for start in range(0, len(inputs), chunk):
            vectors, counts = await self._embed_chunk(job_id, inputs[start : start + chunk])
            parts.append(np.asarray(vectors, dtype=np.float32))
            tokens += int(sum(counts))
        return JobResult(np.concatenate(parts), tokens, self._embedder.model_name)

    async def _embed_chunk(self, job_id: str, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """Embed one chunk, retrying while an embeddings backend is unavailable."""
        for delay in (*TRANSIENT_RETRY_DELAYS, None):
            try:
                return await self._embedder.embed(texts)
            except (Unavailable, GatewayTimeout, BadGateway) as error:
                if delay is None:
                    raise
                logger.warning(
                    "job %s: the embeddings failed (%s); retrying in %g s",
                    job_id,
                    error.message,
                    delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last delay re-raises")

    async def _retry(self, job_id: str, operation: Callable[..., Awaitable[T]], *args: object) -> T:
        """Run a store operation until it succeeds, keeping the job in this process meanwhile."""
        failures = 0
        while True:
            try:
                value = await operation(*args)
            except StoreUnavailable as error:
                self._metrics.store_errors.labels(error.code).inc()
                if failures == 0:
                    logger.warning(
                        "job %s waits for the job store, retrying every %g s: %s",
                        job_id,
                        STORE_RETRY_SECONDS,
                        error.message,
                    )
                failures += 1
                await asyncio.sleep(STORE_RETRY_SECONDS)
                continue
            if failures:
                logger.info("job %s reached the job store after %d retries", job_id, failures)
            return value

    async def drain(self, deadline: float, grace: float) -> DrainReport:
        """Run queued jobs until the deadline, let running ones finish, give back the rest."""
        began = time.monotonic()
        finished_before = self.finished
        for task in (self._starter, self._feeder):
            if task is not None:
                task.cancel()
        if self._workers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), deadline)

        self._stopping = True
        waiting: list[Delivery] = []
        while not self.queue.empty():
            waiting.append(self.queue.get_nowait())
            self.queue.task_done()
        busy = [worker for worker in self._workers if worker in self._running]
        for worker in self._workers:
            if worker not in self._running:
                worker.cancel()
        interrupted: list[Delivery] = []
        if busy:
            _, unfinished = await asyncio.wait(busy, timeout=grace)
            interrupted = [self._running[worker] for worker in unfinished]
            for worker in unfinished:
                worker.cancel()
        tasks = [*self._workers, self._starter, self._feeder, self._extender]
        for task in tasks:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(task for task in tasks if task is not None), return_exceptions=True)

        for delivery in waiting + interrupted:
            try:
                await self._store.release(delivery)
            except StoreUnavailable as error:
                logger.warning(
                    "job %s stays in the job store as it is and resumes later: %s",
                    delivery.job_id,
                    error.message,
                )
        return DrainReport(
            seconds=time.monotonic() - began,
            finished=self.finished - finished_before,
            queued_left=len(waiting),
            interrupted=len(interrupted),
        )
