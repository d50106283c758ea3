"""The HTTP client that talks to the backend, and the retry on connection errors.

One `httpx.AsyncClient` per worker process keeps a bounded pool of keep-alive connections.
A failed connection attempt is retried twice with a short pause, because a backend that
restarts or a pooled connection that the backend closed a moment earlier is the common
cause. Embeddings are idempotent, so a retry after a broken connection cannot apply work
twice. Timeouts and HTTP error statuses are never retried: the backend did receive the
request, and a retry would double its load exactly when it is slowest.
"""

from __future__ import annotations

import asyncio
import logging
import math
from urllib.parse import unquote, urlsplit

import httpx
import orjson

from kiln_service.api.errors import BadGateway, GatewayTimeout, ServiceError, Unavailable
from kiln_service.settings import Settings

logger = logging.getLogger(__name__)

# Pauses before the first and the second retry of a failed connection, in seconds.
RETRY_DELAYS = (0.1, 0.3)
# kiln and vLLM's OpenAI server run on uvicorn, which closes idle connections after 5 s
# (`timeout_keep_alive` in uvicorn 0.55, TIMEOUT_KEEP_ALIVE in vLLM). Expiring them sooner
# lets the gateway drop an idle connection before the backend closes it under a request.
KEEPALIVE_EXPIRY = 4.0

CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
BROKEN_CONNECTION_ERRORS = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


def embeddings_url(backend_url: str) -> str:
    """Return the embeddings endpoint for a server URL, a `/v1` base URL or the endpoint."""
    url = backend_url.rstrip("/")
    path = urlsplit(url).path
    if path.endswith("/embeddings"):
        return url
    if path.endswith("/v1"):
        return url + "/embeddings"
    return url + "/v1/embeddings"


def display_url(url: str) -> str:
    """Return `url` without its user and password, for messages and logs."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


class BackendClient:
    """The pooled HTTP client for one backend's embeddings endpoint."""

    def __init__(self, settings: Settings) -> None:
        assert settings.backend_url is not None
        self.settings = settings
        self.url = display_url(embeddings_url(settings.backend_url))

        # The user and password go into an auth object, so that no log line, not even
        # httpx's DEBUG request log, contains them.
        parts = urlsplit(settings.backend_url)
        auth = None
        if parts.username is not None:
            auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
        limits = httpx.Limits(
            max_connections=settings.backend_max_connections,
            max_keepalive_connections=settings.backend_max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        timeout = httpx.Timeout(
            connect=settings.backend_connect_timeout,
            read=settings.backend_timeout,
            write=settings.backend_timeout,
            pool=settings.backend_timeout,
        )
        # trust_env=False: proxy variables meant for outbound traffic must not reroute the
        # gateway's calls to a backend inside the cluster.
        self._client = httpx.AsyncClient(auth=auth, limits=limits, timeout=timeout, trust_env=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post_json(self, payload: object) -> httpx.Response:
        """POST `payload` as JSON, retrying connection errors; raise a ServiceError on failure.

        A connection that cannot be opened raises Unavailable (503), a connection that breaks
        raises BadGateway (502), and a timeout raises GatewayTimeout (504). Each message
        names the URL and the error.
        """
        content = orjson.dumps(payload)
        headers = {"Content-Type": "application/json"}
        attempts = len(RETRY_DELAYS) + 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._client.post(self.url, content=content, headers=headers)
            except (*CONNECT_ERRORS, *BROKEN_CONNECTION_ERRORS) as error:
                if attempt == attempts:
                    raise self._connection_failure(error, attempts) from error
                logger.warning(
                    "backend %s: %s on attempt %d of %d; retrying in %.1f s",
                    self.url,
                    describe(error),
                    attempt,
                    attempts,
                    RETRY_DELAYS[attempt - 1],
                )
                await asyncio.sleep(RETRY_DELAYS[attempt - 1])
            except httpx.PoolTimeout as error:
                raise Unavailable(
                    f"All {self.settings.backend_max_connections} connections to the "
                    f"embeddings backend {self.url} stayed busy for "
                    f"{self.settings.backend_timeout:g} s; the backend is overloaded. Retry "
                    "shortly, or raise KILN_BACKEND_MAX_CONNECTIONS.",
                    code="backend_overloaded",
                    retry_after=1,
                ) from error
            except httpx.TimeoutException as error:
                raise GatewayTimeout(
                    f"The embeddings backend {self.url} did not respond within "
                    f"{self.settings.backend_timeout:g} s (KILN_BACKEND_TIMEOUT): "
                    f"{describe(error)}. Send fewer or shorter inputs, or raise the timeout.",
                    code="backend_timeout",
                ) from error
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _connection_failure(self, error: Exception, attempts: int) -> ServiceError:
        if isinstance(error, CONNECT_ERRORS):
            return Unavailable(
                f"The embeddings backend {self.url} is unreachable: {describe(error)} after "
                f"{attempts} attempts. Retry later, and check that the backend is running.",
                code="backend_unreachable",
                retry_after=math.ceil(self.settings.backend_check_interval),
            )
        return BadGateway(
            f"The connection to the embeddings backend {self.url} broke before a complete "
            f"response: {describe(error)} after {attempts} attempts. Check the backend's log.",
            code="backend_connection_broken",
        )


def describe(error: Exception) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
