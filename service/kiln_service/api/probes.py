"""Liveness, readiness and startup probes, plus Prometheus metrics.

The handlers read in-memory state and nothing else: they never wait for the model, a lock
or the network, so they respond in microseconds even while inference saturates every core.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from kiln_service.lifecycle import Lifecycle, Phase
from kiln_service.metrics import Metrics

router = APIRouter()


def _json(status: int, body: object) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.get("/livez", tags=["probes"])
async def livez(request: Request) -> Response:
    """200 whenever the event loop runs: while loading, serving and draining."""
    lifecycle: Lifecycle = request.app.state.lifecycle
    return _json(200, {"alive": True, "state": lifecycle.phase.value})


@router.get("/readyz", tags=["probes"])
async def readyz(request: Request) -> Response:
    """200 only when the weights are resident, warmed up, not draining and checks pass."""
    lifecycle: Lifecycle = request.app.state.lifecycle
    ready, body = lifecycle.readiness()
    return _json(200 if ready else 503, body)


@router.get("/startupz", tags=["probes"])
async def startupz(request: Request) -> Response:
    """200 once the server has been ready at least once; 503 while loading or after a failure."""
    lifecycle: Lifecycle = request.app.state.lifecycle
    started = lifecycle.started_once and lifecycle.phase is not Phase.FAILED
    return _json(200 if started else 503, {"started": started, "state": lifecycle.phase.value})


@router.get("/metrics", tags=["probes"])
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    lifecycle: Lifecycle = request.app.state.lifecycle
    registry.state.state(lifecycle.phase.value)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
