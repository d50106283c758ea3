"""API errors and JSON responses in the shapes Kubernetes clients parse."""

from __future__ import annotations

import json
from typing import Any

import aiohttp.web

REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """An error the emulator returns as a ``Status`` object with the given HTTP code."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASON_BY_CODE.get(code, "Unknown")
        self.details = details or {}

    def status_body(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def json_response(body: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
    )


def error_response(error: ApiError) -> aiohttp.web.Response:
    return json_response(error.status_body(), status=error.code)


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, f"{kind} {name!r} not found", details={"name": name, "kind": kind})


def conflict(kind: str, name: str) -> ApiError:
    return ApiError(
        409,
        f"Operation cannot be fulfilled on {kind} {name!r}: the object has been modified; "
        "please apply your changes to the latest version and try again",
        reason="Conflict",
        details={"name": name, "kind": kind},
    )


def invalid(kind: str, name: str, causes: list[str]) -> ApiError:
    return ApiError(
        422,
        f"{kind} {name!r} is invalid: " + "; ".join(causes),
        reason="Invalid",
        details={"name": name, "kind": kind,
                 "causes": [{"reason": "FieldValueInvalid", "message": cause}
                            for cause in causes]},
    )


SERVER_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T00:00:00Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}
