"""The FastAPI application: routes, error handlers, admission and the model's lifespan."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from kiln_service import __version__
from kiln_service.api import disabled, embeddings, probes
from kiln_service.api.errors import install_error_handlers
from kiln_service.api.limits import AdmissionMiddleware
from kiln_service.components import Component
from kiln_service.jobs import install_jobs
from kiln_service.lifecycle import Lifecycle
from kiln_service.lifespan import Model, make_lifespan
from kiln_service.metrics import Metrics
from kiln_service.settings import Settings


def create_app(settings: Settings, lifecycle: Lifecycle | None = None) -> FastAPI:
    """Build the application; nothing is loaded until its lifespan starts."""
    lifecycle = lifecycle or Lifecycle()
    metrics = Metrics()
    model_ready = asyncio.Event()
    model = _create_model(settings, lifecycle, metrics)
    components: list[Component] = []

    app = FastAPI(
        title="kiln model server",
        version=__version__,
        # A redirect for a trailing slash would build its Location from the client's Host
        # header; a 404 is clearer for an API.
        redirect_slashes=False,
        lifespan=make_lifespan(
            settings=settings,
            lifecycle=lifecycle,
            model=model,
            components=components,
            model_ready=model_ready,
        ),
    )
    app.state.settings = settings
    app.state.lifecycle = lifecycle
    app.state.metrics = metrics
    app.state.embedder = model
    app.state.model_ready = model_ready

    install_error_handlers(app)
    app.include_router(probes.router)
    app.include_router(embeddings.router)
    install_jobs(app, components)
    if settings.job_store is None:
        app.include_router(disabled.jobs_disabled())
    if settings.adapters_dir is not None:
        from kiln_service.adapters.component import install_adapters

        components.append(install_adapters(app, settings))
    else:
        app.include_router(disabled.adapters_disabled())
    app.add_middleware(AdmissionMiddleware, settings=settings, metrics=metrics)
    return app


def _create_model(settings: Settings, lifecycle: Lifecycle, metrics: Metrics) -> Model:
    if settings.backend_url is not None:
        from kiln_service.gateway import Gateway

        return Gateway(settings, lifecycle, metrics)

    from kiln_service.inference.engine import Engine

    return Engine(settings, lifecycle, metrics)
