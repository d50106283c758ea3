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

Forward = Callable[[list[str]], tuple[np.ndarray, list[int]]]

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
            try:
                await self._serve(loop, batch)
            finally:
                self._busy = False

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
        texts = [text for item in batch for text in item.texts]
        self._last_requests = len(batch)
        started = loop.time()
        try:
            vectors, counts = await loop.run_in_executor(
                self._executor, self._forward_sorted, texts
            )
            self._last_forward_seconds = loop.time() - started
        except Exception as error:  # noqa: BLE001 - every waiter must get the failure
            logger.error("forward pass of %d inputs failed: %r", len(texts), error)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return

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

    def _forward_sorted(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """Embed `texts` in length-sorted chunks and return rows in the original order."""
        if self._on_batch is not None:
            self._on_batch(len(texts))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: np.ndarray | None = None
        counts = [0] * len(texts)
        for start in range(0, len(order), self._max_batch_size):
            chunk = order[start : start + self._max_batch_size]
            chunk_vectors, chunk_counts = self._forward([texts[i] for i in chunk])
            if vectors is None:
                vectors = np.empty((len(texts), chunk_vectors.shape[1]), dtype=np.float32)
            vectors[chunk] = chunk_vectors
            for i, count in zip(chunk, chunk_counts, strict=True):
                counts[i] = count
        assert vectors is not None
        return vectors, counts

    async def close(self) -> None:
        """Wait for queued and running work, then stop the task and the inference thread."""
        if self._task is not None:
            while not self._queue.empty() or self._busy:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)
