"""The dynamic batcher, in process, with a real forward function that records its calls."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest

from kiln_service.inference.batcher import Batcher, BatcherClosed


class Recorder:
    """A forward pass that takes `seconds` per call and rejects the text "poison"."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        with self.lock:
            self.calls.append(list(texts))
        time.sleep(self.seconds)
        if "poison" in texts:
            raise ValueError("poison in the batch")
        vectors = np.array([[float(len(text))] for text in texts], dtype=np.float32)
        return vectors, [len(text) for text in texts]


async def start(forward: Recorder, max_batch_size: int = 4) -> Batcher:
    batcher = Batcher(forward, max_batch_size=max_batch_size, batch_wait_ms=0)
    batcher.start()
    return batcher


def test_rows_return_in_request_order() -> None:
    async def scenario() -> tuple[np.ndarray, list[int]]:
        batcher = await start(Recorder())
        try:
            return await batcher.submit(["ccc", "a", "bb"])
        finally:
            await batcher.close(timeout=5)

    vectors, counts = asyncio.run(scenario())
    assert vectors[:, 0].tolist() == [3.0, 1.0, 2.0]
    assert counts == [3, 1, 2]


def test_failure_stays_with_its_request() -> None:
    forward = Recorder(seconds=0.2)

    async def scenario() -> list[Any]:
        batcher = await start(forward)
        blocker = asyncio.create_task(batcher.submit(["first"]))
        await asyncio.sleep(0.05)
        results: list[Any] = await asyncio.gather(
            batcher.submit(["good one"]),
            batcher.submit(["poison"]),
            batcher.submit(["good two"]),
            return_exceptions=True,
        )
        await blocker
        await batcher.close(timeout=5)
        return results

    good_one, poisoned, good_two = asyncio.run(scenario())
    assert isinstance(poisoned, ValueError)
    assert not isinstance(good_one, BaseException)
    assert not isinstance(good_two, BaseException)
    assert any(len(call) == 3 for call in forward.calls), "the three never shared a pass"


def test_abandoned_request_stops_computing() -> None:
    forward = Recorder(seconds=0.1)

    async def scenario() -> None:
        batcher = await start(forward, max_batch_size=1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.submit([f"text {i}" for i in range(30)]), 0.35)
        await batcher.submit(["after"])
        await batcher.close(timeout=5)

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 1.5
    assert len(forward.calls) < 10


def test_close_fails_queued_requests_at_deadline() -> None:
    forward = Recorder(seconds=0.5)

    async def scenario() -> list[Any]:
        batcher = await start(forward, max_batch_size=1)
        running = asyncio.create_task(batcher.submit(["running"]))
        await asyncio.sleep(0.05)
        queued = [asyncio.create_task(batcher.submit([f"queued {i}"])) for i in range(5)]
        await asyncio.sleep(0)
        await batcher.close(timeout=0.2)
        results: list[Any] = await asyncio.gather(running, *queued, return_exceptions=True)
        return results

    results = asyncio.run(scenario())
    closed = [r for r in results if isinstance(r, BatcherClosed)]
    assert closed, results
    assert len(forward.calls) < 6
