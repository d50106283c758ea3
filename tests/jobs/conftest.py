"""Model directories and Redis servers for the job queue tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.model_files import bake_synthetic
from jobs.job_client import JOB_SECONDS
from jobs.redis_server import RedisServer, redis_binary


@pytest.fixture(scope="session")
def fast_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(tmp_path_factory.mktemp("jobs-fast"))


@pytest.fixture(scope="session")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(tmp_path_factory.mktemp("jobs-slow"), forward_delay=JOB_SECONDS)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if redis_binary() is None:
        pytest.skip(
            "redis-server is not installed, so the Redis job store cannot be tested; "
            "install it with `apt-get install redis-server`."
        )
    with RedisServer(tmp_path / "redis") as server:
        yield server
