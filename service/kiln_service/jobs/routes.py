"""`POST /v1/jobs` and `GET /v1/jobs/{id}`: submit a batch embedding job, read its state.

A job's result is read in pages: `offset` and `limit` select rows, and `result.next` is the
path of the following page until the last one.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from kiln_service.api.embeddings import not_ready
from kiln_service.api.errors import InvalidInput, NotFound, Unavailable
from kiln_service.jobs.component import JobsComponent
from kiln_service.jobs.records import Job, JobState, NewJob
from kiln_service.jobs.schemas import MAX_IDEMPOTENCY_KEY_LENGTH, JobRequest
from kiln_service.jobs.store import StoreUnavailable
from kiln_service.lifecycle import Lifecycle, Phase

router = APIRouter(tags=["jobs"])

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
STORE_RETRY_AFTER = 5


@router.post(
    "/v1/jobs",
    status_code=202,
    responses={
        200: {"description": "The idempotency key was used before; this is that job."},
        202: {"description": "The job is stored and queued."},
        422: {"description": "Invalid input, or an idempotency key reused for other inputs."},
        503: {"description": "Not ready, shutting down, or the job store is unavailable."},
    },
)
async def create_job(
    body: JobRequest,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH),
    ] = None,
) -> Response:
    lifecycle: Lifecycle = request.app.state.lifecycle
    if lifecycle.phase is not Phase.READY:
        raise _not_accepting(lifecycle)
    jobs: JobsComponent = request.app.state.jobs

    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise InvalidInput("Field 'input' is an empty list; send at least one string.")
    served = request.app.state.embedder.model_name
    if body.model is not None and _model_key(body.model) != _model_key(served):
        raise NotFound(
            f"Model {body.model!r} is not served here; this server serves {served!r}.",
            code="model_not_found",
        )
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise InvalidInput(
            f"The Idempotency-Key header {idempotency_key!r} and the field 'idempotency_key' "
            f"{body.idempotency_key!r} differ; send one of them.",
        )

    job = NewJob(texts, idempotency_key or body.idempotency_key)
    try:
        stored, created = await jobs.submit(job)
    except StoreUnavailable as error:
        raise Unavailable(error.message, code=error.code, retry_after=STORE_RETRY_AFTER) from None
    if not created and stored.input_digest != job.input_digest:
        raise InvalidInput(
            f"The idempotency key {job.idempotency_key!r} was already used for job "
            f"{stored.id!r} with other inputs; use a new key for new inputs.",
            code="idempotency_key_reused",
        )
    return _json(202 if created else 200, describe(stored), {"Location": _path(stored.id)})


@router.get("/v1/jobs/{job_id}", responses={404: {"description": "No such job."}})
async def read_job(
    job_id: str,
    request: Request,
    offset: Annotated[int, Query(ge=0, description="First result row to return.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Rows per page.")] = (
        DEFAULT_PAGE_SIZE
    ),
    encoding_format: Literal["float", "base64"] = "float",
) -> Response:
    jobs: JobsComponent = request.app.state.jobs
    try:
        job = await jobs.store.get(job_id)
        if job is None:
            raise NotFound(
                f"Job {job_id!r} was not found. Finished jobs are deleted after "
                f"{jobs.settings.job_retention:g} s (KILN_JOB_RETENTION).",
                code="job_not_found",
            )
        body = describe(job)
        if job.state is JobState.DONE:
            rows = max(0, min(limit, job.input_count - offset))
            vectors = await jobs.store.read_vectors(job, offset, rows)
            body["result"] = _page(job, vectors, offset, limit, encoding_format)
    except StoreUnavailable as error:
        raise Unavailable(error.message, code=error.code, retry_after=STORE_RETRY_AFTER) from None
    return _json(200, body)


def describe(job: Job) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "object": "embedding.job",
        "status": job.state.value,
        "input_count": job.input_count,
        "attempts": job.attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "model": job.model,
        "error": None if job.error is None else {"message": job.error},
    }
    if job.state is JobState.DONE:
        tokens = job.total_tokens or 0
        body["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return body


def _page(
    job: Job, vectors: np.ndarray, offset: int, limit: int, encoding_format: str
) -> dict[str, Any]:
    data: list[dict[str, Any]] = []
    for index, row in enumerate(vectors, start=offset):
        embedding: Any = row
        if encoding_format == "base64":
            embedding = base64.b64encode(np.ascontiguousarray(row, "<f4").tobytes()).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    end = offset + len(data)
    next_page = None
    if end < job.input_count:
        next_page = f"{_path(job.id)}?offset={end}&limit={limit}"
        if encoding_format != "float":
            next_page += f"&encoding_format={encoding_format}"
    return {
        "object": "list",
        "model": job.model,
        "data": data,
        "offset": offset,
        "limit": limit,
        "total": job.input_count,
        "next": next_page,
    }


def _not_accepting(lifecycle: Lifecycle) -> Unavailable:
    if lifecycle.phase in (Phase.DRAINING, Phase.STOPPED):
        return Unavailable(
            "The server is shutting down and accepts no new jobs; retry on another replica. "
            "Jobs it has accepted are kept and finish.",
            code="shutting_down",
            retry_after=1,
        )
    return not_ready(lifecycle)


def _path(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _model_key(name: str) -> str:
    """Strip the organization prefix and the case from a model name, for comparing names."""
    return name.rsplit("/", 1)[-1].lower()
