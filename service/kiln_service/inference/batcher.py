"""Dynamic batching: concurrent requests share one forward pass.

One task owns the model. It takes every request that is waiting when it becomes free (up
to `max_batch_size` inputs), optionally waits `batch_wait_ms` for more, sorts the inputs by
length so each chunk pads little, and runs the chunks on a single inference thread. With the
default wait of zero, a request that finds the model idle starts at once, and batches form
only from requests that arrive while the model is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

Result = tuple[np.ndarray, list[int]]
Forward = Callable[[list[str]], Result]

REFILL_FRACTION = 0.1
REFILL_MAX_SECONDS = 0.02


@dataclass
class Pending:
    texts: list[str]
    future: asyncio.Future[tuple[np.ndarray, list[int]]]
    queued_at: float = field(default_factory=time.monotonic)


class Batcher:
    def __init__(
        self,
        forward: Forward,
        *,
        max_batch_size: int,
        batch_wait_ms: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._forward = forward
        self._max_batch_size = max_batch_size
        self._batch_wait = batch_wait_ms / 1000
        self._on_batch = on_batch
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiln-inference")
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._current: list[Pending] = []
        self._arrived = asyncio.Event()
        self._last_requests = 0
        self._last_forward_seconds = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kiln-batcher")

    async def submit(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        future: asyncio.Future[tuple[np.ndarray, list[int]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.put_nowait(Pending(texts, future))
        self._arrived.set()
        return await future

    async def run_once(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """Run one forward pass outside the queue, for the warm-up."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._forward, texts)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            self._busy = True
            self._current = batch
            try:
                await self._serve(loop, batch)
            finally:
                self._busy = False
                self._current = []

    async def _serve(self, loop: asyncio.AbstractEventLoop, batch: list[Pending]) -> None:
        size = len(batch[0].texts)
        if self._batch_wait and size < self._max_batch_size:
            await asyncio.sleep(self._batch_wait)
        elif self._last_requests > 1:
            size = await self._refill(loop, batch, size)
        size = self._take_queued(batch, size)

        batch = [item for item in batch if not item.future.done()]
        if not batch:
            return
        self._last_requests = len(batch)
        started = loop.time()
        try:
            await self._compute(loop, batch)
            self._last_forward_seconds = loop.time() - started
        except Exception as error:  # noqa: BLE001 - the failure goes to its own request
            if len(batch) == 1:
                logger.error("forward pass of %d inputs failed: %r", len(batch[0].texts), error)
                _fail(batch[0], error)
                return
            # One request's input must not fail the requests it happened to share a pass
            # with, so each request runs again on its own.
            for item in batch:
                try:
                    await self._compute(loop, [item])
                except Exception as item_error:  # noqa: BLE001
                    logger.error(
                        "forward pass of %d inputs failed: %r", len(item.texts), item_error
                    )
                    _fail(item, item_error)

    async def _compute(self, loop: asyncio.AbstractEventLoop, batch: list[Pending]) -> None:
        texts = [text for item in batch for text in item.texts]
        owners = [item.future for item in batch for _ in item.texts]
        vectors, counts = await loop.run_in_executor(
            self._executor, self._forward_sorted, texts, owners
        )
        start = 0
        for item in batch:
            end = start + len(item.texts)
            if not item.future.done():
                item.future.set_result((vectors[start:end], counts[start:end]))
            start = end

    def _take_queued(self, batch: list[Pending], size: int) -> int:
        while size < self._max_batch_size and not self._queue.empty():
            item = self._queue.get_nowait()
            batch.append(item)
            size += len(item.texts)
        return size

    async def _refill(
        self, loop: asyncio.AbstractEventLoop, batch: list[Pending], size: int
    ) -> int:
        """Wait, briefly, until as many requests are queued as the last batch carried."""
        wait = min(REFILL_MAX_SECONDS, REFILL_FRACTION * self._last_forward_seconds)
        deadline = loop.time() + wait
        while True:
            size = self._take_queued(batch, size)
            remaining = deadline - loop.time()
            full = size >= self._max_batch_size or len(batch) >= self._last_requests
            if full or remaining <= 0:
                return size
            # No await since the queue was emptied, so no request can slip in before clear().
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return self._take_queued(batch, size)

    def _forward_sorted(
        self, texts: list[str], owners: list[asyncio.Future[Result]]
    ) -> tuple[np.ndarray, list[int]]:
        """Embed `texts` in length-sorted chunks and return rows in the original order.

        Runs on the inference thread. Before each chunk it drops the texts of requests that
        are already done (timed out or disconnected), so an abandoned request stops using
        the model within one chunk. Their rows stay zero and are never sent.
        """
        if self._on_batch is not None:
            self._on_batch(len(texts))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: np.ndarray | None = None
        counts = [0] * len(texts)
        for start in range(0, len(order), self._max_batch_size):
            chunk = [i for i in order[start : start + self._max_batch_size]
                     if not owners[i].done()]  # fmt: skip
            if not chunk:
                continue
            chunk_vectors, chunk_counts = self._forward([texts[i] for i in chunk])
            if vectors is None:
                vectors = np.zeros((len(texts), chunk_vectors.shape[1]), dtype=np.float32)
            vectors[chunk] = chunk_vectors
            for i, count in zip(chunk, chunk_counts, strict=True):
                counts[i] = count
        if vectors is None:
            vectors = np.zeros((len(texts), 0), dtype=np.float32)
        return vectors, counts

    async def close(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for queued and running work, then stop.

        Requests still queued or computing at the deadline fail with BatcherClosed. A
        forward pass that is still running holds the inference thread until its current
        chunk ends.
        """
        computing: list[Pending] = []
        if self._task is not None:
            deadline = time.monotonic() + timeout
            while (not self._queue.empty() or self._busy) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            computing = list(self._current)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        closed = BatcherClosed("the server is shutting down")
        for item in computing:
            _fail(item, closed)
        while not self._queue.empty():
            _fail(self._queue.get_nowait(), closed)
        self._executor.shutdown(wait=True)


class BatcherClosed(Exception):
    """The batcher stopped before this request reached the model."""


def _fail(item: Pending, error: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(error)
