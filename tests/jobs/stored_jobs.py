"""Jobs as the stores keep them, read straight from the SQLite file or from Redis.

The tests count completions here rather than through the server's API, so "exactly once"
is checked against what is stored.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import redis

SQLITE_FILE = "jobs.sqlite3"
REDIS_PREFIX = "kiln:jobs"


@dataclass(frozen=True)
class StoredJob:
    state: str
    attempts: int
    completions: int
    result_rows: int
    consumer: str = ""


def read_sqlite_jobs(data_dir: Path) -> dict[str, StoredJob]:
    connection = sqlite3.connect(data_dir / SQLITE_FILE)
    try:
        rows = connection.execute(
            "SELECT jobs.id, state, attempts, completions, length(results.vectors), dimensions "
            "FROM jobs LEFT JOIN results ON results.job_id = jobs.id"
        ).fetchall()
    finally:
        connection.close()
    return {
        job_id: StoredJob(state, attempts, completions, (size or 0) // (4 * (dimensions or 1)))
        for job_id, state, attempts, completions, size, dimensions in rows
    }


def read_redis_jobs(client: redis.Redis, prefix: str = REDIS_PREFIX) -> dict[str, StoredJob]:
    jobs: dict[str, StoredJob] = {}
    for key in client.scan_iter(match=f"{prefix}:job:*"):
        raw: dict[bytes, bytes] = client.hgetall(key)  # type: ignore[assignment]
        fields = {name.decode(): value.decode() for name, value in raw.items()}
        job_id = fields["id"]
        size = int(client.strlen(f"{prefix}:vectors:{job_id}"))  # type: ignore[arg-type]
        dimensions = int(fields.get("dimensions", 1))
        jobs[job_id] = StoredJob(
            state=fields["state"],
            attempts=int(fields.get("attempts", 0)),
            completions=int(fields.get("completions", 0)),
            result_rows=size // (4 * dimensions),
            consumer=fields.get("consumer", ""),
        )
    return jobs


def assert_each_completed_once(stored: dict[str, StoredJob], accepted: dict[str, int]) -> None:
    """Every accepted job is done once with one row per input, and nothing else is pending."""
    missing = set(accepted) - set(stored)
    assert not missing, f"accepted jobs missing from the store: {sorted(missing)}"
    for job_id, job in stored.items():
        assert job.state == "done", f"{job_id}: {job}"
        assert job.completions == 1, f"{job_id}: {job}"
        if job_id in accepted:
            assert job.result_rows == accepted[job_id], f"{job_id}: {job}"
