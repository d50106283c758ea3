"""The backend's health for readiness: a cached result that one background task refreshes.

The kubelet probes readiness every few seconds on every replica, and a probe must return in
microseconds, so `/readyz` never calls the backend. One task per worker process checks the
backend every `KILN_BACKEND_CHECK_INTERVAL` seconds and stores the result, and readiness
reads only that stored result. Forwarded requests also count as evidence: a connection
refused marks the backend down at once, and a forwarded response marks it up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from kiln_service.api.errors import ServiceError

logger = logging.getLogger(__name__)


class BackendHealth:
    def __init__(
        self,
        check: Callable[[], Awaitable[None]],
        *,
        url: str,
        interval: float,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._check = check
        self.url = url
        self.interval = interval
        self._on_change = on_change
        self.failure: str | None = "the backend has not been checked yet"
        self.checked_at = time.monotonic()
        self.failures_in_row = 0
        self._task: asyncio.Task[None] | None = None

    def readiness_failure(self) -> str | None:
        """Return why the backend cannot serve, from the last check; None when it can."""
        if self.failure is None:
            return None
        return f"{self.failure} (checked {time.monotonic() - self.checked_at:.1f} s ago)"

    async def check_once(self) -> None:
        try:
            await self._check()
        except ServiceError as error:
            self.record_failure(error.message)
        except Exception as error:  # noqa: BLE001 - the check loop must survive any failure
            logger.exception("backend check of %s failed unexpectedly", self.url)
            self.record_failure(f"The backend check failed: {type(error).__name__}: {error}")
        else:
            self.record_success()

    def record_success(self) -> None:
        self.checked_at = time.monotonic()
        if self.failure is None:
            return
        if self.failures_in_row:
            logger.info(
                "backend %s responds again after %d failed checks; readiness follows",
                self.url,
                self.failures_in_row,
            )
        self.failure = None
        self.failures_in_row = 0
        self._notify(True)

    def record_failure(self, message: str) -> None:
        self.checked_at = time.monotonic()
        self.failures_in_row += 1
        if self.failures_in_row == 1:
            logger.warning(
                "backend check failed, readiness returns 503 until it passes: %s", message
            )
        else:
            logger.debug(
                "backend check failed %d times in a row: %s", self.failures_in_row, message
            )
        self.failure = message
        self._notify(False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kiln-backend-check")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check_once()

    def _notify(self, up: bool) -> None:
        if self._on_change is not None:
            self._on_change(up)
