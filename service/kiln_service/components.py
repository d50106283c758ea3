"""Optional parts of a server (job queue, adapter cache) that share the model's lifespan.

A component starts when the lifespan starts, before the model is ready: one that needs the
model awaits `model_ready`. It stops during shutdown after in-flight HTTP requests have
finished and before the model is released, in the reverse order of starting, so work that
still needs the model (a draining job queue) can finish with it.
"""

from __future__ import annotations

from typing import Protocol


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
