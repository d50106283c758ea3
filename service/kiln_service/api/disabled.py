"""404 responses that explain how to enable a part of the API that is switched off."""

from __future__ import annotations

from fastapi import APIRouter

from kiln_service.api.errors import NotFound

JOBS_OFF = (
    "Background jobs are off on this server. Start it with KILN_DATA_DIR (SQLite) or "
    "KILN_REDIS_URL (Redis) to serve /v1/jobs."
)
ADAPTERS_OFF = (
    "Adapters are off on this server. Start it with --adapters-dir (KILN_ADAPTERS_DIR) "
    "to serve /v1/classify."
)


def disabled_router(message: str, *paths: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def explain() -> None:
        raise NotFound(message, code="feature_disabled")

    for path in paths:
        router.add_api_route(path, explain, methods=["GET", "POST"])
    return router


def jobs_disabled() -> APIRouter:
    return disabled_router(JOBS_OFF, "/v1/jobs", "/v1/jobs/{job_id:path}")


def adapters_disabled() -> APIRouter:
    return disabled_router(ADAPTERS_OFF, "/v1/classify")
