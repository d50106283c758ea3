"""Background embedding jobs that survive shutdown: durable store, workers, drain, resume.

`POST /v1/jobs` returns 202 only once the job is stored (SQLite in KILN_DATA_DIR, or a
Redis stream at KILN_REDIS_URL). Workers run stored jobs through the served model, and a
job that was running when a process died runs again, while its outcome is stored once.
The job queue is off unless KILN_DATA_DIR or KILN_REDIS_URL is set.
"""

from __future__ import annotations

from fastapi import FastAPI

from kiln_service.components import Component


def install_jobs(app: FastAPI, components: list[Component]) -> None:
    """Add the job routes and the job queue component when the settings enable jobs."""
    if app.state.settings.job_store is None:
        return
    from kiln_service.jobs.component import JobsComponent
    from kiln_service.jobs.routes import router

    component = JobsComponent(
        settings=app.state.settings,
        lifecycle=app.state.lifecycle,
        embedder=app.state.embedder,
        model_ready=app.state.model_ready,
        metrics=app.state.metrics,
    )
    components.append(component)
    app.state.jobs = component
    app.include_router(router)
