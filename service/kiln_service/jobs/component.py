"""The job queue as a server component: opens the store, runs the workers, drains at stop.

Readiness depends on the store: while it is full or unreachable, `/readyz` returns 503 with
the cause, so no new work is routed here, and `/livez` stays 200, because a restart would
not fix the store. A check every two seconds clears the cause once the store works again.
An SQLite store that cannot be opened at start stops the server, because the cause is
its volume or its settings. An unreachable Redis is retried instead, because Redis may
start after the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from kiln_service.jobs.metrics import JobMetrics
from kiln_service.jobs.records import Job, NewJob
from kiln_service.jobs.runner import Embedder, JobRunner
from kiln_service.jobs.store import JobStore, StoreUnavailable, create_store
from kiln_service.lifecycle import Lifecycle
from kiln_service.metrics import Metrics
from kiln_service.settings import Settings

logger = logging.getLogger(__name__)

STORE_CHECK_INTERVAL = 2.0
READINESS_CHECK = "jobs"


class JobsComponent:
    name = "job queue"

    def __init__(
        self,
        *,
        settings: Settings,
        lifecycle: Lifecycle,
        embedder: Embedder,
        model_ready: asyncio.Event,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.store: JobStore = create_store(settings)
        self.metrics = JobMetrics(metrics.registry)
        self.runner = JobRunner(
            store=self.store,
            embedder=embedder,
            model_ready=model_ready,
            settings=settings,
            metrics=self.metrics,
        )
        self._opened = False
        self._background: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        try:
            await self.store.open()
        except StoreUnavailable as error:
            logger.error("cannot open the job store: %s", error.message)
            self.lifecycle.fail(error.message)
            return
        self._opened = True
        self.lifecycle.readiness_checks[READINESS_CHECK] = self.readiness
        self.runner.start()
        self._background = [
            asyncio.create_task(self._watch_store(), name="kiln-jobs-store-check"),
            asyncio.create_task(self._purge_finished(), name="kiln-jobs-purge"),
        ]

    def readiness(self) -> str | None:
        return self.store.problem

    async def submit(self, job: NewJob) -> tuple[Job, bool]:
        try:
            stored, created = await self.store.submit(job)
        except StoreUnavailable as error:
            self.metrics.store_errors.labels(error.code).inc()
            logger.warning("job rejected: %s", error.message)
            raise
        if created:
            self.metrics.submitted.inc()
            logger.debug("job %s stored: %d inputs", stored.id, stored.input_count)
        return stored, created

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if not self._opened:
            return

        deadline = self.settings.queue_drain_timeout
        report = await self.runner.drain(deadline, grace=self.settings.request_timeout)
        try:
            unfinished = str(await self.store.unfinished())
        except StoreUnavailable:
            unfinished = "an unknown number of"
        logger.info(
            "job queue drained in %.2f s (deadline %g s): %d jobs finished, %d left for later "
            "(%d queued here, %d interrupted); %s unfinished jobs remain in the store",
            report.seconds,
            deadline,
            report.finished,
            report.queued_left + report.interrupted,
            report.queued_left,
            report.interrupted,
            unfinished,
        )
        await self.store.close()

    async def _watch_store(self) -> None:
        reported: str | None = None
        while True:
            with contextlib.suppress(StoreUnavailable):
                await self.store.check()
            problem = self.store.problem
            if problem != reported:
                if problem is not None:
                    logger.warning("job store unavailable, readiness returns 503: %s", problem)
                else:
                    logger.info("job store available again: %s", self.store.description)
                reported = problem
            await asyncio.sleep(STORE_CHECK_INTERVAL)

    async def _purge_finished(self) -> None:
        retention = self.settings.job_retention
        interval = min(retention / 10, 3600.0)
        while True:
            await asyncio.sleep(interval)
            try:
                purged = await self.store.purge(time.time() - retention)
            except StoreUnavailable as error:
                logger.warning("could not delete finished jobs: %s", error.message)
                continue
            if purged:
                logger.info("deleted %d jobs finished more than %g s ago", purged, retention)
