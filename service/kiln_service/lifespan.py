"""The one lifespan that owns the model, from load to release.

uvicorn binds its port only after lifespan startup returns, and a port that does not
accept connections makes the kubelet's liveness probe fail. So startup only creates the
load task and yields at once: the port is bound within a fraction of a second, `/livez`
responds during the whole load, and `/readyz` stays 503 until the weights are resident
and warmed up. After `yield` (SIGTERM has already turned readiness false and the listener
has drained) the same function cancels a load still running, stops the components, and
releases the model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI

from kiln_service.components import Component
from kiln_service.lifecycle import Lifecycle, Phase
from kiln_service.settings import Settings
from kiln_service.weights.errors import WeightsError
from kiln_service.weights.loader import LoadCancelled

logger = logging.getLogger(__name__)


class Model(Protocol):
    async def load(self) -> None: ...

    async def warm_up(self) -> None: ...

    async def close(self) -> None: ...


def make_lifespan(
    *,
    settings: Settings,
    lifecycle: Lifecycle,
    model: Model,
    components: Sequence[Component],
    model_ready: asyncio.Event,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lifecycle.mark("lifespan_started")
        for component in components:
            await component.start()
        startup = asyncio.create_task(
            start_model(model, lifecycle, settings, model_ready), name="kiln-load"
        )
        try:
            yield
        finally:
            await shutdown(model, lifecycle, components, startup)

    return lifespan


async def start_model(
    model: Model, lifecycle: Lifecycle, settings: Settings, model_ready: asyncio.Event
) -> None:
    """Load and warm up the model, then mark the server ready; on failure, request exit."""
    lifecycle.mark("load_started")
    try:
        async with asyncio.timeout(settings.load_timeout):
            await model.load()
            lifecycle.mark("loaded")
            lifecycle.enter(Phase.WARMING)
            await model.warm_up()
    except WeightsError as error:
        logger.error("cannot serve the model: %s", error)
        lifecycle.fail(str(error))
        return
    except TimeoutError:
        lifecycle.progress.cancel.set()
        progress = lifecycle.progress
        message = (
            f"The model load timed out after {settings.load_timeout:g} s (KILN_LOAD_TIMEOUT) "
            f"in phase {lifecycle.phase.value}, with {progress.bytes_loaded} of "
            f"{progress.bytes_total} bytes read. Raise the load timeout or check the "
            "storage throughput."
        )
        logger.error("%s", message)
        lifecycle.fail(message)
        return
    except asyncio.CancelledError:
        lifecycle.progress.cancel.set()
        raise
    except LoadCancelled as cancelled:
        logger.info("%s", cancelled)
        return
    except Exception as error:
        logger.exception("the model load failed")
        lifecycle.fail(f"The model load failed: {type(error).__name__}: {error}")
        return

    lifecycle.enter(Phase.READY)
    if lifecycle.phase is not Phase.READY:
        return
    model_ready.set()
    ready_at = lifecycle.mark("ready")
    timings: dict[str, Any] = lifecycle.timings
    failing = lifecycle.failing_checks()
    logger.info(
        "%s %.2f s after process start (imports and start-up %.2f s, load %.2f s, "
        "warm-up %.2f s)%s",
        "model ready" if failing else "ready",
        ready_at,
        timings["load_started"],
        timings["loaded"] - timings["load_started"],
        ready_at - timings["loaded"],
        "; readiness still fails: " + "; ".join(f"{k}: {v}" for k, v in failing.items())
        if failing
        else "",
    )


async def shutdown(
    model: Model,
    lifecycle: Lifecycle,
    components: Sequence[Component],
    startup: asyncio.Task[None],
) -> None:
    lifecycle.begin_drain()
    if not startup.done():
        lifecycle.progress.cancel.set()
        startup.cancel()
        await asyncio.gather(startup, return_exceptions=True)
        logger.info(
            "load cancelled after %d of %d bytes",
            lifecycle.progress.bytes_loaded,
            lifecycle.progress.bytes_total,
        )

    for component in reversed(components):
        started = time.monotonic()
        await component.stop()
        logger.info("%s stopped in %.2f s", component.name, time.monotonic() - started)

    lifecycle.mark("release_started")
    await model.close()
    lifecycle.mark("released")
    if lifecycle.phase is not Phase.FAILED:
        lifecycle.phase = Phase.STOPPED
