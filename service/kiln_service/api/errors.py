"""HTTP failures: a few exception classes and the one place that turns them into responses.

Every error body has the OpenAI shape, `{"error": {"message", "type", "code"}}`, so OpenAI
clients surface the message. A server that is not ready, overloaded or draining returns 503
with `Retry-After`. Bad input gets a 4xx with a message that names the field and the limit.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    status_code = 500
    error_type = "server_error"

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retry_after = retry_after


class InvalidInput(ServiceError):
    status_code = 422
    error_type = "invalid_request_error"


class NotFound(ServiceError):
    status_code = 404
    error_type = "not_found_error"


class PayloadTooLarge(ServiceError):
    status_code = 413
    error_type = "invalid_request_error"


class Unavailable(ServiceError):
    """Not ready, draining, overloaded or a dependency down: retry later, elsewhere."""

    status_code = 503
    error_type = "service_unavailable"


class GatewayTimeout(ServiceError):
    status_code = 504
    error_type = "timeout"


class BadGateway(ServiceError):
    status_code = 502
    error_type = "bad_gateway"


def error_response(
    status: int,
    message: str,
    *,
    error_type: str,
    code: str | None = None,
    retry_after: float | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if extra:
        body.update(extra)
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    return Response(
        orjson.dumps({"error": body}),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def install_error_handlers(app: FastAPI) -> None:
    async def on_service_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ServiceError)
        return error_response(
            error.status_code,
            error.message,
            error_type=error.error_type,
            code=error.code,
            retry_after=error.retry_after,
        )

    async def on_validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problems = [_describe(problem) for problem in error.errors()]
        return error_response(
            422,
            "Invalid request: " + "; ".join(problems),
            error_type="invalid_request_error",
            code="invalid_request",
        )

    async def on_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        return error_response(
            error.status_code, str(error.detail), error_type="invalid_request_error"
        )

    async def on_unexpected(request: Request, error: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            500,
            f"Internal error while handling {request.url.path}: {type(error).__name__}. "
            "The server log has the details.",
            error_type="server_error",
        )

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _describe(problem: Any) -> str:
    location = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
    message = str(problem.get("msg", "invalid value"))
    value = problem.get("input")
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    if problem.get("type") == "missing":
        return f"field {location!r} is required"
    if problem.get("type") == "json_invalid":
        return f"the body is not valid JSON ({problem.get('ctx', {}).get('error', message)})"
    return f"field {location or 'body'!r}: {message} (got {shown})"
