"""Reading the backend's responses: embeddings out of a 2xx body, HTTP errors for the rest.

A backend's own input errors (400, 413, 422) reach the client as 422 or 413 with the
backend's message, because the client can fix them. Overload (429, 503) becomes 503 with
`Retry-After`, a backend timeout (408, 504) becomes 504, and everything else, including a
2xx body that is not the OpenAI embeddings shape, becomes 502 because the gateway cannot
serve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import orjson

from kiln_service.api.errors import (
    BadGateway,
    GatewayTimeout,
    InvalidInput,
    PayloadTooLarge,
    ServiceError,
    Unavailable,
)

MAX_DETAIL_CHARS = 300


@dataclass(frozen=True)
class BackendEmbeddings:
    vectors: np.ndarray
    prompt_tokens: int
    model: str


def read_embeddings(response: httpx.Response, url: str, expected: int) -> BackendEmbeddings:
    """Return the embeddings of a 2xx response; raise a ServiceError for any other response."""
    if not 200 <= response.status_code < 300:
        raise status_error(response, url)
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise malformed(url, f"the body is not JSON ({_excerpt(response.text)!r})") from None
    if not isinstance(body, dict):
        raise malformed(url, f"the body is a JSON {type(body).__name__}, not an object")

    data = body.get("data")
    if not isinstance(data, list):
        raise malformed(url, "field 'data' is missing or not a list")
    if len(data) != expected:
        raise malformed(url, f"it contains {len(data)} embeddings for {expected} inputs")
    rows = sorted(
        (_embedding(item, position, url) for position, item in enumerate(data)),
        key=lambda pair: pair[0],
    )
    if [index for index, _ in rows] != list(range(expected)):
        raise malformed(url, f"the indexes are not 0 to {expected - 1}")
    ordered = [row for _, row in rows]

    lengths = {len(row) for row in ordered}
    if len(lengths) != 1 or 0 in lengths:
        raise malformed(url, f"the embeddings have different or zero lengths {sorted(lengths)}")
    try:
        vectors = np.asarray(ordered, dtype=np.float32)
    except (TypeError, ValueError):
        vectors = np.empty(0, dtype=np.float32)
    if vectors.ndim != 2:
        raise malformed(url, "an embedding contains something other than numbers")

    usage = body.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    model = body.get("model")
    return BackendEmbeddings(
        vectors=vectors,
        prompt_tokens=tokens if isinstance(tokens, int) else 0,
        model=model if isinstance(model, str) else "",
    )


def _embedding(item: object, position: int, url: str) -> tuple[int, list[Any]]:
    if not isinstance(item, dict):
        raise malformed(url, f"item {position} of 'data' is not an object")
    embedding = item.get("embedding")
    if not isinstance(embedding, list):
        raise malformed(url, f"item {position} of 'data' has no 'embedding' list of numbers")
    index = item.get("index", position)
    if not isinstance(index, int):
        raise malformed(url, f"item {position} of 'data' has the index {index!r}")
    return index, embedding


def malformed(url: str, problem: str) -> BadGateway:
    return BadGateway(
        f"The embeddings backend {url} sent a malformed response: {problem}. Check that "
        "KILN_BACKEND_URL points at an OpenAI-compatible embeddings server.",
        code="backend_malformed_response",
    )


def status_error(response: httpx.Response, url: str) -> ServiceError:
    status = response.status_code
    prefix = f"The embeddings backend {url} returned HTTP {status}"
    detail = backend_message(response)
    if status in (400, 422):
        return InvalidInput(f"{prefix} and rejected the input: {detail}", code="backend_rejected")
    if status == 413:
        return PayloadTooLarge(
            f"{prefix} because the request is too large for it: {detail}. Send fewer or "
            "shorter inputs per request.",
            code="too_large",
        )
    if status in (429, 503):
        return Unavailable(
            f"{prefix} because it is overloaded or not ready: {detail}. Retry later.",
            code="backend_unavailable",
            retry_after=_retry_after(response),
        )
    if status in (408, 504):
        return GatewayTimeout(f"{prefix} because it timed out: {detail}", code="backend_timeout")
    return BadGateway(
        f"{prefix}: {detail}. Check the backend's log, and that KILN_BACKEND_URL points at "
        "an OpenAI-compatible embeddings server.",
        code="backend_error",
    )


def backend_message(response: httpx.Response) -> str:
    """Return the error message of an OpenAI, vLLM, TEI or FastAPI error body, or its text."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return repr(_excerpt(response.text)) if response.content else "(empty body)"
    candidates: list[object] = []
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            candidates.append(error.get("message"))
        candidates += [error, body.get("message"), body.get("detail")]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return _excerpt(candidate)
    return _excerpt(response.text)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _excerpt(text: str) -> str:
    text = " ".join(text.split()).rstrip(".")
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."
