"""The adapter cache as a server component: wired in when KILN_ADAPTERS_DIR is set.

Adapters never take part in readiness: a missing adapters directory or a broken adapter
fails only the requests that name it, so one bad file cannot take a replica out of service.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from kiln_service.adapters.api import router
from kiln_service.adapters.cache import AdapterCache
from kiln_service.adapters.metrics import AdapterMetrics
from kiln_service.settings import Settings

logger = logging.getLogger(__name__)


class AdapterComponent:
    name = "adapter cache"

    def __init__(self, cache: AdapterCache) -> None:
        self.cache = cache

    async def start(self) -> None:
        directory = self.cache.adapters_dir
        if not directory.is_dir():
            logger.warning(
                "the adapters directory %s does not exist; every /v1/classify request will "
                "return 404 until it does",
                directory,
            )
        logger.info(
            "adapter cache: adapters from %s, at most %d adapters and %d bytes",
            directory,
            self.cache.max_count,
            self.cache.max_bytes,
        )

    async def stop(self) -> None:
        await self.cache.close()


def install_adapters(app: FastAPI, settings: Settings) -> AdapterComponent:
    """Create the cache and the `/v1/classify` route; return the component to register."""
    assert settings.adapters_dir is not None
    cache = AdapterCache(
        settings.adapters_dir,
        base=app.state.embedder,
        max_bytes=settings.adapter_cache_bytes,
        max_count=settings.adapter_cache_count,
        metrics=AdapterMetrics(app.state.metrics.registry),
        device=settings.device,
    )
    app.state.adapter_cache = cache
    app.include_router(router)
    return AdapterComponent(cache)
