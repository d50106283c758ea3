"""`POST /v1/classify`: an adapter's labels and scores for each input text.

The route pins the adapter before it computes anything, so an unknown (404) or unusable
(422) adapter fails fast, and the pin holds through the embedding and the head's forward
pass. One request timeout covers the load, the embedding and the head.
"""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from kiln_service.adapters.cache import AdapterCache
from kiln_service.adapters.errors import AdapterInvalid, AdapterNotFound
from kiln_service.adapters.schemas import ClassifyRequest, ClassifyResponse
from kiln_service.api.embeddings import Embedder, check_inputs, not_ready
from kiln_service.api.errors import GatewayTimeout, InvalidInput, NotFound, Unavailable
from kiln_service.lifecycle import Lifecycle
from kiln_service.settings import Settings

router = APIRouter()


@router.post(
    "/v1/classify",
    response_model=ClassifyResponse,
    tags=["inference"],
    responses={
        404: {"description": "No adapter of that name in KILN_ADAPTERS_DIR."},
        413: {"description": "The body is larger than KILN_MAX_BODY_BYTES."},
        422: {"description": "Invalid input, or an adapter that is corrupt or does not fit."},
        503: {"description": "Not ready, draining, overloaded or every cached adapter in use."},
        504: {"description": "The request did not finish within the request timeout."},
    },
)
async def classify(body: ClassifyRequest, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    lifecycle: Lifecycle = request.app.state.lifecycle
    if not lifecycle.serving:
        raise not_ready(lifecycle)
    embedder: Embedder = request.app.state.embedder
    cache: AdapterCache = request.app.state.adapter_cache

    texts = [body.input] if isinstance(body.input, str) else body.input
    check_inputs(texts, settings)

    stage = "load"
    try:
        async with asyncio.timeout(settings.request_timeout), cache.use(body.adapter) as adapter:
            stage = "compute"
            vectors, token_counts = await embedder.embed(texts)
            probabilities = await asyncio.to_thread(adapter.head.classify, vectors)
            labels = adapter.head.labels
    except AdapterNotFound as error:
        raise NotFound(error.message, code="adapter_not_found") from None
    except AdapterInvalid as error:
        raise InvalidInput(error.message, code="adapter_invalid") from None
    except TimeoutError:
        raise _timeout_error(body.adapter, stage, cache, settings) from None

    return Response(
        _encode(body, labels, probabilities, token_counts, embedder.model_name),
        media_type="application/json",
    )


def _timeout_error(
    name: str, stage: str, cache: AdapterCache, settings: Settings
) -> Unavailable | GatewayTimeout:
    limit = f"{settings.request_timeout:g} s (KILN_REQUEST_TIMEOUT)"
    if stage == "load" and cache.waiting_for_room(name):
        return Unavailable(
            f"Adapter {name!r} could not be loaded within {limit}: all "
            f"{len(cache.resident)} cached adapters are in use by requests in flight and the "
            "cache is full (KILN_ADAPTER_CACHE_BYTES, KILN_ADAPTER_CACHE_COUNT). Retry shortly "
            "or raise the cache limits.",
            code="adapter_cache_full",
            retry_after=1,
        )
    if stage == "load":
        return GatewayTimeout(
            f"Adapter {name!r} was not loaded within {limit}. Check the adapters "
            "directory's storage, or raise the timeout.",
            code="timeout",
        )
    return GatewayTimeout(
        f"The classification with adapter {name!r} did not finish within {limit}. Send "
        "fewer or shorter inputs, or raise the timeout.",
        code="timeout",
    )


def _encode(
    body: ClassifyRequest,
    labels: list[str],
    probabilities: np.ndarray,
    token_counts: list[int],
    model: str,
) -> bytes:
    keep = body.top_k or len(labels)
    data = []
    for index, row in enumerate(probabilities):
        order = np.argsort(-row, kind="stable")[:keep]
        data.append(
            {
                "index": index,
                "label": labels[int(order[0])],
                "labels": [labels[int(i)] for i in order],
                "scores": [float(row[i]) for i in order],
            }
        )
    tokens = int(sum(token_counts))
    return orjson.dumps(
        {
            "object": "list",
            "adapter": body.adapter,
            "model": model,
            "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
