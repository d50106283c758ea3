"""The gateway's model: the same interface as the local engine, served by a remote backend."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
from prometheus_client import Counter, Gauge

from kiln_service.api.errors import BadGateway, GatewayTimeout, ServiceError, Unavailable
from kiln_service.gateway.health import BackendHealth
from kiln_service.gateway.responses import BackendEmbeddings, read_embeddings
from kiln_service.gateway.transport import BackendClient, display_url, embeddings_url
from kiln_service.lifecycle import Lifecycle
from kiln_service.metrics import Metrics
from kiln_service.settings import Settings

logger = logging.getLogger(__name__)

CHECK_TEXT = "kiln backend check"
# The route gives up after the request timeout with a message that cannot name the backend,
# so a forward ends a little sooner and its 504 names the backend.
DEADLINE_SHARE = 0.95


class Gateway:
    """Forwards embeddings to an OpenAI-compatible server; loads no weights."""

    def __init__(self, settings: Settings, lifecycle: Lifecycle, metrics: Metrics) -> None:
        assert settings.backend_url is not None
        self.settings = settings
        self.lifecycle = lifecycle
        self.url = display_url(embeddings_url(settings.backend_url))

        # Learned from the backend's first response: the name and size it serves.
        self.model_name = ""
        self.dimensions = 0
        self.weight_bytes = 0
        self._backend_model = ""

        self._client: BackendClient | None = None
        self.forwarded = 0
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

        self._up = Gauge(
            "kiln_backend_up",
            "1 when the last check of the embeddings backend passed, 0 otherwise.",
            registry=metrics.registry,
        )
        self._failures = Counter(
            "kiln_backend_failures",
            "Forwarded requests that failed at the backend, by HTTP status returned.",
            ["status"],
            registry=metrics.registry,
        )

        self.health = BackendHealth(
            self._check_backend,
            url=self.url,
            interval=settings.backend_check_interval,
            on_change=lambda up: self._up.set(1 if up else 0),
        )

    async def load(self) -> None:
        """Create the connection pool and register the backend's readiness check."""
        self._client = BackendClient(self.settings)
        if not logger.isEnabledFor(logging.DEBUG):
            # httpx logs every request at INFO; per-request detail belongs to DEBUG.
            logging.getLogger("httpx").setLevel(logging.WARNING)
        self.lifecycle.readiness_checks["backend"] = self.health.readiness_failure
        model_dir = self.settings.model_dir
        ignored = f"; model dir {model_dir} is not loaded" if model_dir is not None else ""
        logger.info(
            "gateway mode: forwarding embeddings to %s with up to %d connections, "
            "checking it every %g s%s",
            self.url,
            self.settings.backend_max_connections,
            self.settings.backend_check_interval,
            ignored,
        )

    async def warm_up(self) -> None:
        """Check the backend once, then keep checking it in the background.

        A backend that fails this first check does not stop the gateway: it starts, and
        readiness returns 503 with the reason until a later check passes. The first check
        gets half the load timeout, so a backend that never responds cannot make the
        gateway exit for a load timeout.
        """
        limit = self.settings.load_timeout / 2
        try:
            async with asyncio.timeout(limit):
                await self.health.check_once()
        except TimeoutError:
            self.health.record_failure(
                f"The embeddings backend {self.url} did not respond to the first check within "
                f"{limit:g} s (half of KILN_LOAD_TIMEOUT)."
            )
        self.health.start()

    async def embed(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """Forward `texts` and return the vectors and token counts.

        Requests of more than KILN_MAX_BATCH_SIZE inputs go to the backend as several
        concurrent requests, because servers such as text-embeddings-inference reject
        large batches (its `--max-client-batch-size` is 32 by default).

        The OpenAI API reports only the total of prompt tokens, so the first count of each
        part is that part's total and the others are zero. Callers sum the counts.
        """
        size = self.settings.max_batch_size
        chunks = [texts[start : start + size] for start in range(0, len(texts), size)]
        self._inflight += 1
        self._idle.clear()
        try:
            results = await self._forward_with_deadline(chunks)
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()
        self.forwarded += 1

        if len({result.vectors.shape[1] for result in results}) > 1:
            raise BadGateway(
                f"The embeddings backend {self.url} returned vectors of different sizes for "
                "parts of one request; its model changed during the request. Retry it.",
                code="backend_model_changed",
            )
        counts: list[int] = []
        for chunk, result in zip(chunks, results, strict=True):
            counts += [result.prompt_tokens] + [0] * (len(chunk) - 1)
        return np.concatenate([result.vectors for result in results]), counts

    async def close(self) -> None:
        """Stop the checks, wait for forwarded requests, then close every pooled connection."""
        await self.health.stop()
        if self._inflight:
            logger.info("waiting for %d forwarded requests before closing", self._inflight)
            try:
                await asyncio.wait_for(self._idle.wait(), self.settings.request_timeout)
            except TimeoutError:
                logger.warning(
                    "%d forwarded requests still open after %g s; closing their connections",
                    self._inflight,
                    self.settings.request_timeout,
                )
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        logger.info("backend connection pool closed after %d forwarded requests", self.forwarded)

    async def _forward_with_deadline(self, chunks: list[list[str]]) -> list[BackendEmbeddings]:
        deadline = self.settings.request_timeout * DEADLINE_SHARE
        try:
            async with asyncio.timeout(deadline):
                if len(chunks) == 1:
                    return [await self._forward(chunks[0])]
                return await self._forward_concurrently(chunks)
        except TimeoutError:
            self._failures.labels("504").inc()
            raise GatewayTimeout(
                f"The embeddings backend {self.url} did not respond within the request "
                f"timeout of {self.settings.request_timeout:g} s (KILN_REQUEST_TIMEOUT). "
                "Send fewer or shorter inputs, or raise the timeout.",
                code="backend_timeout",
            ) from None

    async def _forward_concurrently(self, chunks: list[list[str]]) -> list[BackendEmbeddings]:
        """Forward every chunk at once; the first failure cancels the others and is raised."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._forward(chunk)) for chunk in chunks]
        except ExceptionGroup as failures:
            raise failures.exceptions[0] from None
        return [task.result() for task in tasks]

    async def _forward(self, texts: list[str]) -> BackendEmbeddings:
        """Send one forwarded request; count its failure and feed its outcome to the health."""
        try:
            result = await self._request(texts)
        except Unavailable as error:
            self._failures.labels("503").inc()
            if error.code == "backend_unreachable":
                self.health.record_failure(error.message)
            raise
        except ServiceError as error:
            self._failures.labels(str(error.status_code)).inc()
            raise
        self.health.record_success()
        return result

    async def _check_backend(self) -> None:
        await self._request([CHECK_TEXT])

    async def _request(self, texts: list[str]) -> BackendEmbeddings:
        client = self._client
        if client is None:
            raise Unavailable(
                f"The gateway has no open connection pool to {self.url}; it is starting or "
                "stopping. Retry on another replica.",
                code="not_ready",
                retry_after=1,
            )
        payload: dict[str, object] = {"input": texts, "encoding_format": "float"}
        if self._backend_model:
            payload["model"] = self._backend_model
        response = await client.post_json(payload)
        result = read_embeddings(response, self.url, len(texts))
        self._learn(result)
        return result

    def _learn(self, result: BackendEmbeddings) -> None:
        """Take the model name and size from a response; log when the backend's model changes."""
        dimensions = int(result.vectors.shape[1])
        if (result.model, dimensions) == (self._backend_model, self.dimensions):
            return
        if self.dimensions:
            logger.warning(
                "backend %s now serves %r with %d dimensions (was %r with %d)",
                self.url,
                result.model,
                dimensions,
                self._backend_model,
                self.dimensions,
            )
        else:
            logger.info(
                "backend %s serves %r with %d dimensions", self.url, result.model, dimensions
            )
        self._backend_model = result.model
        # A backend that names no model is served under its URL, which no client sends.
        self.model_name = result.model or self.url
        self.dimensions = dimensions
