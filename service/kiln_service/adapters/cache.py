"""The adapter cache: bounded by bytes and by count, least recently used first out.

Each request pins the adapter it uses for as long as it runs, and eviction only takes
unpinned adapters, so no request ever loses its adapter halfway. A load first reserves
room (evicting least recently used, unpinned adapters) and only then reads the weights, so
resident and reserved tensors together stay within both limits; only the file's bytes, held
while its tensors are built, come on top. When every resident
adapter is pinned, the load waits until a request finishes instead of going over the
limits. The route's request timeout bounds that wait.

Concurrent requests for an adapter that is not resident share one load (single flight).
The load runs as its own task, so a waiting request that gives up does not cancel it for
the others; the last waiter to give up does. Blocking work (file reads, hashing, tensor
construction) runs in a small thread pool of its own, off the event loop.

An evicted adapter is released for real: the cache holds the only references to its
tensors, drops them at eviction (CPython frees them at once, without a garbage collection),
and on a GPU empties PyTorch's CUDA cache so the memory returns to the device.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kiln_service.adapters.errors import AdapterError, AdapterInvalid
from kiln_service.adapters.head import LinearHead
from kiln_service.adapters.loading import Device, inspect_adapter, read_adapter
from kiln_service.adapters.manifest import AdapterManifest, check_name
from kiln_service.adapters.metrics import AdapterMetrics

logger = logging.getLogger(__name__)

LOAD_THREADS = 2


class BaseModel(Protocol):
    """The served base model's name and embedding size, read at each load."""

    model_name: str
    dimensions: int


@dataclass(eq=False)
class CachedAdapter:
    name: str
    manifest: AdapterManifest
    head: LinearHead
    nbytes: int
    pins: int = 0


@dataclass(eq=False)
class _Load:
    name: str
    task: asyncio.Task[CachedAdapter] | None = None
    waiters: int = 0
    waiting_for_room: bool = False


@dataclass
class _Room:
    """Bytes and slots taken by resident adapters plus loads that reserved room."""

    nbytes: int = 0
    count: int = 0
    event: asyncio.Event = field(default_factory=asyncio.Event)


class AdapterCache:
    def __init__(
        self,
        adapters_dir: Path,
        *,
        base: BaseModel,
        max_bytes: int,
        max_count: int,
        metrics: AdapterMetrics,
        device: Device = "cpu",
    ) -> None:
        self.adapters_dir = adapters_dir
        self.max_bytes = max_bytes
        self.max_count = max_count
        self.device = device
        self.metrics = metrics
        self._base = base
        self._resident: OrderedDict[str, CachedAdapter] = OrderedDict()
        self._loads: dict[str, _Load] = {}
        self._room = _Room()
        self._executor = ThreadPoolExecutor(LOAD_THREADS, thread_name_prefix="kiln-adapter-load")
        self._warned: set[tuple[str, str]] = set()
        metrics.limit_bytes.set(max_bytes)
        metrics.limit_adapters.set(max_count)

    @property
    def resident(self) -> list[str]:
        """Names of the resident adapters, least recently used first."""
        return list(self._resident)

    @property
    def cached_bytes(self) -> int:
        return sum(adapter.nbytes for adapter in self._resident.values())

    def waiting_for_room(self, name: str) -> bool:
        load = self._loads.get(name)
        return load is not None and load.waiting_for_room

    @asynccontextmanager
    async def use(self, name: str) -> AsyncIterator[CachedAdapter]:
        """Pin the adapter `name` for the block, loading it first if it is not resident."""
        adapter = await self.acquire(name)
        try:
            yield adapter
        finally:
            self.release(adapter)

    async def acquire(self, name: str) -> CachedAdapter:
        """Return the adapter pinned; the caller must `release` it exactly once."""
        check_name(name)
        adapter = self._resident.get(name)
        if adapter is not None:
            adapter.pins += 1
            self._resident.move_to_end(name)
            self.metrics.hits.inc()
            return adapter

        self.metrics.misses.inc()
        load = self._loads.get(name)
        if load is None:
            load = _Load(name)
            load.task = asyncio.create_task(self._load(name, load), name=f"kiln-adapter-{name}")
            self._loads[name] = load
        assert load.task is not None
        load.waiters += 1
        try:
            return await asyncio.shield(load.task)
        except asyncio.CancelledError:
            self._leave(load)
            raise

    def _leave(self, load: _Load) -> None:
        """Undo one waiter of `load` whose request was cancelled."""
        assert load.task is not None
        if load.task.done():
            # The load finished and pinned the adapter for this waiter too.
            if not load.task.cancelled() and load.task.exception() is None:
                self.release(load.task.result())
            return
        load.waiters -= 1
        if load.waiters == 0:
            # A request arriving from now on starts a fresh load instead of joining this one.
            self._forget(load)
            load.task.cancel()

    def release(self, adapter: CachedAdapter) -> None:
        adapter.pins -= 1
        if adapter.pins == 0:
            self._signal_room()

    async def _load(self, name: str, load: _Load) -> CachedAdapter:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        self.metrics.loads_in_progress.inc()
        reserved = 0
        try:
            plan = await loop.run_in_executor(
                self._executor,
                lambda: inspect_adapter(
                    self.adapters_dir,
                    name,
                    base_model=self._base.model_name,
                    dimensions=self._base.dimensions,
                ),
            )
            self._check_fits(name, plan.nbytes)
            await self._reserve(plan.nbytes, load)
            reserved = plan.nbytes
            head = await loop.run_in_executor(self._executor, read_adapter, plan, self.device)

            # From here to the return nothing awaits, so every waiter counted now is pinned.
            adapter = CachedAdapter(name, plan.manifest, head, plan.nbytes, pins=load.waiters)
            self._resident[name] = adapter
            reserved = 0
            self._update_gauges()
        except AdapterError as error:
            self._count_failure(name, error)
            raise
        except asyncio.CancelledError:
            self.metrics.loads.labels("cancelled").inc()
            raise
        except Exception:
            logger.exception("adapter %s: the load failed", name)
            self.metrics.loads.labels("error").inc()
            raise
        finally:
            if reserved:
                # NOTE: a cancelled read may still run in its thread, so its bytes are freed
                # a moment after its room is handed back.
                self._room.nbytes -= reserved
                self._room.count -= 1
                self._signal_room()
            self._forget(load)
            self.metrics.loads_in_progress.dec()

        seconds = time.monotonic() - started
        self.metrics.loads.labels("loaded").inc()
        self.metrics.load_seconds.observe(seconds)
        logger.info(
            "adapter %s loaded: %d bytes, %d labels in %.3f s; %d adapters, %d bytes cached",
            name,
            adapter.nbytes,
            len(plan.manifest.labels),
            seconds,
            len(self._resident),
            self.cached_bytes,
        )
        return adapter

    def _forget(self, load: _Load) -> None:
        if self._loads.get(load.name) is load:
            del self._loads[load.name]

    def _check_fits(self, name: str, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            raise AdapterInvalid(
                name,
                f"its tensors take {nbytes} bytes, more than the whole adapter cache "
                f"(KILN_ADAPTER_CACHE_BYTES={self.max_bytes})",
                "Raise KILN_ADAPTER_CACHE_BYTES or fit a smaller adapter.",
            )

    async def _reserve(self, nbytes: int, load: _Load) -> None:
        """Take room for `nbytes`, evicting unpinned adapters or waiting for requests to end."""
        room = self._room
        while room.nbytes + nbytes > self.max_bytes or room.count + 1 > self.max_count:
            victim = next((a for a in self._resident.values() if a.pins == 0), None)
            if victim is not None:
                self._evict(victim)
                continue
            load.waiting_for_room = True
            await room.event.wait()
        load.waiting_for_room = False
        room.nbytes += nbytes
        room.count += 1

    def _signal_room(self) -> None:
        self._room.event.set()
        self._room.event = asyncio.Event()

    def _evict(self, adapter: CachedAdapter) -> None:
        del self._resident[adapter.name]
        released = adapter.head.release()
        self._room.nbytes -= adapter.nbytes
        self._room.count -= 1
        self.metrics.evictions.inc()
        self._update_gauges()
        self._empty_cuda_cache()
        logger.debug("adapter %s evicted: %d bytes of tensors released", adapter.name, released)

    def _empty_cuda_cache(self) -> None:
        # NOTE: the tests run on CPU only; this GPU path and `read_adapter`'s move to the
        # device have not run on a GPU yet.
        torch = sys.modules.get("torch")
        if self.device == "cuda" and torch is not None and torch.cuda.is_initialized():
            torch.cuda.empty_cache()

    def _update_gauges(self) -> None:
        self.metrics.cached_adapters.set(len(self._resident))
        self.metrics.cached_bytes.set(self.cached_bytes)

    def _count_failure(self, name: str, error: AdapterError) -> None:
        self.metrics.loads.labels(error.result).inc()
        # Unknown names come from clients; an unusable adapter is worth one warning per fault.
        key = (name, error.message)
        if error.result == "not_found" or key in self._warned:
            logger.debug("adapter %s: %s", name, error.message)
            return
        self._warned.add(key)
        logger.warning("adapter %s: %s", name, error.message)

    async def close(self) -> None:
        """Cancel running loads and release every adapter; call when no request runs."""
        loads = [load.task for load in self._loads.values() if load.task is not None]
        for task in loads:
            task.cancel()
        await asyncio.gather(*loads, return_exceptions=True)

        count = len(self._resident)
        released = 0
        for adapter in list(self._resident.values()):
            del self._resident[adapter.name]
            released += adapter.head.release()
        self._room.nbytes = self._room.count = 0
        self._update_gauges()
        self._empty_cuda_cache()
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        logger.info("adapter cache closed: %d adapters, %d bytes released", count, released)
