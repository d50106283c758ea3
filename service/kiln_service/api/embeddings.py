"""`POST /v1/embeddings`, compatible with the OpenAI API and its official clients."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Protocol

import numpy as np
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from kiln_service.api.errors import GatewayTimeout, InvalidInput, NotFound, Unavailable
from kiln_service.api.schemas import EmbeddingRequest, EmbeddingResponse
from kiln_service.lifecycle import Lifecycle, Phase
from kiln_service.settings import Settings

router = APIRouter()


class Embedder(Protocol):
    model_name: str
    dimensions: int

    async def embed(self, texts: list[str]) -> tuple[np.ndarray, list[int]]: ...


@router.post(
    "/v1/embeddings",
    response_model=EmbeddingResponse,
    tags=["inference"],
    responses={
        413: {"description": "The body is larger than KILN_MAX_BODY_BYTES."},
        422: {"description": "Invalid input; the message names the field and the limit."},
        503: {"description": "Not ready, draining or overloaded; see Retry-After."},
        504: {"description": "The forward pass did not finish within the request timeout."},
    },
)
async def create_embeddings(body: EmbeddingRequest, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    lifecycle: Lifecycle = request.app.state.lifecycle
    if not lifecycle.serving:
        raise not_ready(lifecycle)
    embedder: Embedder = request.app.state.embedder

    texts = [body.input] if isinstance(body.input, str) else body.input
    check_request(body, texts, embedder, settings)

    try:
        vectors, token_counts = await asyncio.wait_for(
            embedder.embed(texts), timeout=settings.request_timeout
        )
    except TimeoutError:
        raise GatewayTimeout(
            f"The embeddings for {len(texts)} inputs were not computed within the request "
            f"timeout of {settings.request_timeout:g} s (KILN_REQUEST_TIMEOUT). Send fewer or "
            "shorter inputs, or raise the timeout.",
            code="timeout",
        ) from None

    return Response(
        encode_response(vectors, token_counts, embedder.model_name, body.encoding_format),
        media_type="application/json",
    )


def check_inputs(texts: list[str], settings: Settings) -> None:
    """Raise InvalidInput for an empty list or more inputs than KILN_MAX_INPUTS."""
    if not texts:
        raise InvalidInput("Field 'input' is an empty list; send at least one string.")
    if len(texts) > settings.max_inputs:
        raise InvalidInput(
            f"Field 'input' has {len(texts)} items; the limit is {settings.max_inputs} per "
            "request (KILN_MAX_INPUTS). Split the inputs over several requests.",
            code="too_many_inputs",
        )


def check_request(
    body: EmbeddingRequest, texts: list[str], embedder: Embedder, settings: Settings
) -> None:
    check_inputs(texts, settings)
    if body.dimensions is not None and body.dimensions != embedder.dimensions:
        raise InvalidInput(
            f"Field 'dimensions' is {body.dimensions}, but model {embedder.model_name!r} "
            f"returns {embedder.dimensions} dimensions; omit the field or send "
            f"{embedder.dimensions}.",
        )
    if body.model is not None and not _same_model(body.model, embedder.model_name):
        raise NotFound(
            f"Model {shorten(body.model)!r} is not served here; this server serves "
            f"{embedder.model_name!r}.",
            code="model_not_found",
        )


def not_ready(lifecycle: Lifecycle) -> Unavailable:
    if lifecycle.phase in (Phase.LOADING, Phase.WARMING):
        progress = lifecycle.progress
        return Unavailable(
            f"The model is still {lifecycle.phase.value} ({progress.bytes_loaded} of "
            f"{progress.bytes_total} bytes read); retry when /readyz returns 200.",
            code="not_ready",
            retry_after=5,
        )
    return Unavailable(
        f"The server is {lifecycle.phase.value} and takes no new inference requests; "
        "retry on another replica.",
        code="shutting_down",
        retry_after=1,
    )


def _same_model(requested: str, served: str) -> bool:
    return requested.lower().rsplit("/", 1)[-1] == served.lower().rsplit("/", 1)[-1]


def encode_response(
    vectors: np.ndarray, token_counts: list[int], model: str, encoding_format: str
) -> bytes:
    data: list[dict[str, Any]] = []
    for index, row in enumerate(vectors):
        row = np.ascontiguousarray(row, dtype=np.float32)
        embedding: Any = (
            base64.b64encode(row.tobytes()).decode() if encoding_format == "base64" else row
        )
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = int(sum(token_counts))
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def shorten(value: str, limit: int = 80) -> str:
    """Cut a client-supplied value before echoing it in an error message."""
    return value if len(value) <= limit else value[: limit - 3] + "..."
