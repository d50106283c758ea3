"""Watch streams that resume from a resourceVersion and end after ``timeoutSeconds``.

kmock 0.8 replays every object as ADDED on each watch and ignores both parameters. Here a
watch without ``resourceVersion`` (or with "0") starts with ADDED events for the current
objects, as the API server does; one with a version streams only the later changes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp.web

from .storage import ObjectStore, WatchEvent

Filter = Callable[[dict[str, Any]], bool]


async def serve_watch(
    request: Any, store: ObjectStore, wanted: Filter, closing: Callable[[], bool]
) -> aiohttp.web.StreamResponse:
    """Stream the changes of ``request.resource`` that ``wanted`` accepts, as JSON lines."""
    params = request.params
    since = params.get("resourceVersion", "")
    timeout = float(params["timeoutSeconds"]) if "timeoutSeconds" in params else None
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout

    stream = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
    stream.enable_chunked_encoding()
    await stream.prepare(request._raw_request)
    events = store.events.setdefault(request.resource, [])
    if since in ("", "0"):
        initial = [WatchEvent(store.resource_version, "ADDED", obj)
                   for obj in store.list(request.resource, request.namespace) if wanted(obj)]
        position = len(events)
    else:
        initial = []
        position = next((index for index, event in enumerate(events)
                         if event.resource_version > int(since)), len(events))
    try:
        for event in initial:
            await _write_event(stream, event)
        while not closing():
            for event in events[position:]:
                position += 1
                if wanted(event.obj):
                    await _write_event(stream, event)
            if not await _wait_for_events(store, events, position, deadline, closing):
                break
    except (ConnectionResetError, asyncio.CancelledError):
        return stream
    await stream.write_eof()
    return stream


async def _write_event(stream: aiohttp.web.StreamResponse, event: WatchEvent) -> None:
    line = json.dumps({"type": event.type, "object": event.obj})
    await stream.write(line.encode() + b"\n")


async def _wait_for_events(
    store: ObjectStore,
    events: list[WatchEvent],
    position: int,
    deadline: float | None,
    closing: Callable[[], bool],
) -> bool:
    """Wait for events past ``position`` and return False at the deadline or at close."""
    loop = asyncio.get_running_loop()
    async with store.changed:
        while len(events) <= position and not closing():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(store.changed.wait(), remaining)
            except TimeoutError:
                return False
    return not closing()
