"""Prometheus metrics of the background job queue, in the server's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

JOB_DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.submitted = Counter(
            "kiln_jobs_submitted", "Jobs stored and answered with 202.", registry=registry
        )
        self.finished = Counter(
            "kiln_jobs_finished",
            "Job runs in this process that ended, by outcome (done, failed, duplicate).",
            ["outcome"],
            registry=registry,
        )
        self.running = Gauge(
            "kiln_jobs_running", "Jobs running in this process.", registry=registry
        )
        self.duration = Histogram(
            "kiln_job_duration_seconds",
            "Seconds from a job's start in this process to its stored outcome.",
            buckets=JOB_DURATION_BUCKETS,
            registry=registry,
        )
        self.store_errors = Counter(
            "kiln_job_store_errors",
            "Job store operations that failed, by kind (store_full, store_unreachable, "
            "store_error).",
            ["code"],
            registry=registry,
        )
