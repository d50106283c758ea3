"""The batcher merges concurrent requests, sends a lone one at once, and refills batches."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from kiln_service.inference.batcher import Batcher


class SlowForward:
    """A forward pass that takes a set time and records the size of every batch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.batches: list[int] = []

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        self.batches.append(len(texts))
        time.sleep(self.seconds)
        return np.zeros((len(texts), 4), dtype=np.float32), [1] * len(texts)


async def client(batcher: Batcher, rounds: int, pause: float) -> None:
    """Send one request per round, pausing after each response like a client over a network."""
    for _ in range(rounds):
        await batcher.submit(["text"])
        await asyncio.sleep(pause)


async def run_clients(forward: SlowForward, pauses: list[float], rounds: int) -> None:
    batcher = Batcher(forward, max_batch_size=32, batch_wait_ms=0)
    batcher.start()
    await asyncio.gather(*(client(batcher, rounds, pause) for pause in pauses))
    await batcher.close()


def test_lone_requests_are_not_merged() -> None:
    forward = SlowForward(0.01)
    asyncio.run(run_clients(forward, [0.0], rounds=3))
    assert forward.batches == [1, 1, 1]


def test_requests_during_a_pass_are_merged() -> None:
    forward = SlowForward(0.2)

    async def scenario() -> None:
        batcher = Batcher(forward, max_batch_size=32, batch_wait_ms=0)
        batcher.start()
        first = asyncio.create_task(batcher.submit(["first"]))
        await asyncio.sleep(0.05)
        await asyncio.gather(first, *(batcher.submit([f"text {i}"]) for i in range(5)))
        await batcher.close()

    asyncio.run(scenario())
    assert forward.batches == [1, 5]


def test_staggered_clients_refill_the_batch() -> None:
    # Four clients resend 0 to 3 ms after their responses and the refill waits up to 20 ms.
    # Without the refill the batches alternate: [4, 1, 3, 1, 3].
    forward = SlowForward(0.3)
    asyncio.run(run_clients(forward, [0.0, 0.001, 0.002, 0.003], rounds=3))
    assert forward.batches == [4, 4, 4]


def test_max_batch_size_one_never_merges() -> None:
    forward = SlowForward(0.05)

    async def scenario() -> None:
        batcher = Batcher(forward, max_batch_size=1, batch_wait_ms=0)
        batcher.start()
        await asyncio.gather(*(batcher.submit([f"text {i}"]) for i in range(4)))
        await batcher.close()

    asyncio.run(scenario())
    assert forward.batches == [1, 1, 1, 1]
