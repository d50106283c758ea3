"""Admission for inference routes: body size and time, in-flight limit, metrics.

This is plain ASGI middleware rather than a FastAPI dependency, so an oversized body is
rejected from its `Content-Length` (or from the bytes streamed so far) before it is read
into memory, a body that arrives too slowly gets 408 before it takes an in-flight slot,
and probes and metrics never pass through it.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kiln_service.api.errors import error_response
from kiln_service.metrics import Metrics
from kiln_service.settings import Settings

GUARDED_PREFIX = "/v1/"
REJECTION_REASONS = {
    404: "not_found",
    413: "body_too_large",
    422: "invalid_input",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
}


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED_PREFIX):
            await self.app(scope, receive, send)
            return

        limit = self.settings.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            self.metrics.rejections.labels("body_too_large").inc()
            await _too_large(declared, limit)(scope, receive, send)
            return
        # The body is read here, before the request counts as in flight, so clients that
        # send their bodies slowly cannot hold the in-flight slots, and a chunked body can
        # be cut off at the limit. The route receives the body from memory.
        timeout = self.settings.request_timeout
        try:
            async with asyncio.timeout(timeout):
                body = await _read_body(receive, limit)
        except TimeoutError:
            self.metrics.rejections.labels("body_timeout").inc()
            response = error_response(
                408,
                f"The request body did not arrive within {timeout:g} s "
                "(KILN_REQUEST_TIMEOUT); send the whole body at once.",
                error_type="invalid_request_error",
                code="body_timeout",
            )
            await response(scope, receive, send)
            return
        if body is None:
            self.metrics.rejections.labels("body_too_large").inc()
            await _too_large(limit + 1, limit)(scope, receive, send)
            return
        receive = _replay(body, receive)

        if self.inflight >= self.settings.max_inflight:
            self.metrics.rejections.labels("overloaded").inc()
            response = error_response(
                503,
                f"The server already has {self.inflight} requests in flight, its limit "
                f"(KILN_MAX_INFLIGHT={self.settings.max_inflight}); retry shortly.",
                error_type="service_unavailable",
                code="overloaded",
                retry_after=1,
            )
            await response(scope, receive, send)
            return

        status = 500

        async def send_tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.inflight += 1
        self.metrics.inflight.set(self.inflight)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_tracked)
        finally:
            self.inflight -= 1
            self.metrics.inflight.set(self.inflight)
            self.metrics.latency.labels(_route_template(scope), str(status)).observe(
                time.perf_counter() - started
            )
            if status in REJECTION_REASONS and status != 503:
                self.metrics.rejections.labels(REJECTION_REASONS[status]).inc()
            elif status == 503:
                self.metrics.rejections.labels("not_ready").inc()


def _route_template(scope: Scope) -> str:
    """Return the matched route's template, such as /v1/jobs/{job_id}, to bound label values."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, downstream: Receive) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await downstream()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _too_large_message(size: int, limit: int) -> str:
    return (
        f"The request body has {size} bytes or more, but the limit is {limit} bytes "
        "(KILN_MAX_BODY_BYTES). Send fewer or shorter inputs per request."
    )


def _too_large(size: int, limit: int) -> ASGIApp:
    return error_response(
        413, _too_large_message(size, limit), error_type="invalid_request_error", code="too_large"
    )
