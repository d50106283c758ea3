"""The adapter cache in-process, with real adapter files: limits, pins, single flight, release.

These run the cache class directly so they can hold pins open and keep weak references to
tensors, which a test against a server process cannot observe.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from adapters.adapter_files import (
    SYNTHETIC_DIMENSIONS,
    SYNTHETIC_NAME,
    flip_one_byte,
    write_random_adapter,
)
from kiln_service.adapters.cache import AdapterCache
from kiln_service.adapters.errors import AdapterInvalid, AdapterNotFound
from kiln_service.adapters.metrics import AdapterMetrics

# A head with 3 labels over 16 dimensions: 3·16 + 3 float32 values.
HEAD_BYTES = (3 * 16 + 3) * 4


@dataclass
class Base:
    model_name: str = SYNTHETIC_NAME
    dimensions: int = SYNTHETIC_DIMENSIONS


@pytest.fixture
def adapters_dir(tmp_path: Path) -> Path:
    for seed, name in enumerate(["a", "b", "c", "d"]):
        write_random_adapter(tmp_path, name, seed=seed)
    return tmp_path


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def run(
    adapters_dir: Path,
    registry: CollectorRegistry,
    scenario: Callable[[AdapterCache], Awaitable[None]],
    *,
    max_count: int = 2,
    max_bytes: int = 1 << 20,
) -> None:
    async def main() -> None:
        cache = AdapterCache(
            adapters_dir,
            base=Base(),
            max_bytes=max_bytes,
            max_count=max_count,
            metrics=AdapterMetrics(registry),
        )
        try:
            await scenario(cache)
        finally:
            await cache.close()

    asyncio.run(main())


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def no_collection() -> Iterator[None]:
    """Turn the cyclic garbage collector off, so only reference counting can free tensors."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_least_recently_used_is_evicted(adapters_dir: Path, registry: CollectorRegistry) -> None:
    async def scenario(cache: AdapterCache) -> None:
        for name in ["a", "b", "a", "c"]:
            async with cache.use(name):
                pass
        assert cache.resident == ["a", "c"]

    run(adapters_dir, registry, scenario)
    assert sample(registry, "kiln_adapter_cache_evictions_total") == 1
    assert sample(registry, "kiln_adapter_cache_hits_total") == 1
    assert sample(registry, "kiln_adapter_cache_misses_total") == 3


@pytest.mark.usefixtures("no_collection")
def test_pinned_adapter_stays_and_evicted_is_freed(
    adapters_dir: Path, registry: CollectorRegistry
) -> None:
    async def scenario(cache: AdapterCache) -> None:
        async with cache.use("a") as a:
            async with cache.use("b") as b:
                b_tensors = [weakref.ref(t) for t in b.head.tensors.values()]
                b_head = weakref.ref(b.head)
            del b
            async with cache.use("c"):
                assert cache.resident == ["a", "c"]
            assert [ref() for ref in b_tensors] == [None, None]
            assert b_head() is None
            probabilities = a.head.classify(np.ones((1, SYNTHETIC_DIMENSIONS), np.float32))
            assert probabilities.shape == (1, 3)

    run(adapters_dir, registry, scenario)
    assert sample(registry, "kiln_adapter_cache_evictions_total") == 1


def test_concurrent_first_requests_share_one_load(
    adapters_dir: Path, registry: CollectorRegistry
) -> None:
    async def scenario(cache: AdapterCache) -> None:
        adapters = await asyncio.gather(*(cache.acquire("a") for _ in range(20)))
        assert len({id(adapter) for adapter in adapters}) == 1
        assert adapters[0].pins == 20
        for adapter in adapters:
            cache.release(adapter)
        assert adapters[0].pins == 0

    run(adapters_dir, registry, scenario)
    assert sample(registry, "kiln_adapter_loads_total", result="loaded") == 1
    assert sample(registry, "kiln_adapter_cache_misses_total") == 20


def test_byte_limit_evicts(adapters_dir: Path, registry: CollectorRegistry) -> None:
    async def scenario(cache: AdapterCache) -> None:
        for name in ["a", "b", "c"]:
            async with cache.use(name):
                assert cache.cached_bytes <= 2 * HEAD_BYTES
        assert cache.resident == ["b", "c"]
        assert sample(registry, "kiln_adapter_cache_bytes") == 2 * HEAD_BYTES

    run(adapters_dir, registry, scenario, max_count=10, max_bytes=2 * HEAD_BYTES)


def test_load_waits_while_every_adapter_is_pinned(
    adapters_dir: Path, registry: CollectorRegistry
) -> None:
    async def scenario(cache: AdapterCache) -> None:
        a = await cache.acquire("a")
        waiting = asyncio.create_task(cache.acquire("b"))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        assert cache.waiting_for_room("b")
        assert cache.resident == ["a"]

        cache.release(a)
        b = await asyncio.wait_for(waiting, timeout=10)
        assert cache.resident == ["b"]
        assert a.head.tensors == {}
        cache.release(b)

    run(adapters_dir, registry, scenario, max_count=1)


def test_last_waiter_leaving_cancels_load(adapters_dir: Path, registry: CollectorRegistry) -> None:
    async def scenario(cache: AdapterCache) -> None:
        async with cache.use("a"):
            waiting = asyncio.create_task(cache.acquire("b"))
            await asyncio.sleep(0.2)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await asyncio.sleep(0)
        assert cache.resident == ["a"]

    run(adapters_dir, registry, scenario, max_count=1)
    assert sample(registry, "kiln_adapter_loads_total", result="cancelled") == 1
    assert sample(registry, "kiln_adapter_loads_in_progress") == 0


def test_failed_load_is_retried(adapters_dir: Path, registry: CollectorRegistry) -> None:
    flip_one_byte(adapters_dir / "a")

    async def scenario(cache: AdapterCache) -> None:
        for _ in range(2):
            with pytest.raises(AdapterInvalid, match="sha256 checksum"):
                await cache.acquire("a")
        write_random_adapter(adapters_dir, "a")
        async with cache.use("a"):
            assert cache.resident == ["a"]

    run(adapters_dir, registry, scenario)
    assert sample(registry, "kiln_adapter_loads_total", result="invalid") == 2
    assert sample(registry, "kiln_adapter_loads_total", result="loaded") == 1


def test_unknown_adapter(adapters_dir: Path, registry: CollectorRegistry) -> None:
    async def scenario(cache: AdapterCache) -> None:
        with pytest.raises(AdapterNotFound, match="'missing' was not found"):
            await cache.acquire("missing")

    run(adapters_dir, registry, scenario)
    assert sample(registry, "kiln_adapter_loads_total", result="not_found") == 1


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("../a", id="parent"),
        pytest.param(".hidden", id="dot"),
        pytest.param("a/b", id="slash"),
        pytest.param("", id="empty"),
    ],
)
def test_unsafe_name_is_rejected(
    adapters_dir: Path, registry: CollectorRegistry, name: str
) -> None:
    async def scenario(cache: AdapterCache) -> None:
        with pytest.raises(AdapterInvalid, match="is not valid"):
            await cache.acquire(name)

    run(adapters_dir, registry, scenario)
    assert sample(registry, "kiln_adapter_cache_misses_total") == 0


def test_adapter_larger_than_cache(adapters_dir: Path, registry: CollectorRegistry) -> None:
    async def scenario(cache: AdapterCache) -> None:
        with pytest.raises(AdapterInvalid, match="more than the whole adapter cache"):
            await cache.acquire("a")

    run(adapters_dir, registry, scenario, max_bytes=HEAD_BYTES - 1)


@pytest.mark.usefixtures("no_collection")
def test_close_releases_every_adapter(adapters_dir: Path, registry: CollectorRegistry) -> None:
    references: list[weakref.ref[object]] = []

    async def scenario(cache: AdapterCache) -> None:
        for name in ["a", "b"]:
            async with cache.use(name) as adapter:
                references.extend(weakref.ref(t) for t in adapter.head.tensors.values())

    run(adapters_dir, registry, scenario)
    assert len(references) == 4
    assert all(ref() is None for ref in references)
    assert sample(registry, "kiln_adapter_cache_adapters") == 0
