"""Job settings that cannot work stop `kiln serve` before it binds, naming the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.server_process import ServerProcess


def serve(model_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiln_service", "serve", "--model-dir", str(model_dir), *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=60,
        check=False,
    )


CASES = [
    pytest.param({"KILN_JOBS_STORE": "redis"}, [], "KILN_REDIS_URL must be", id="redis-no-url"),
    pytest.param(
        {"KILN_REDIS_URL": "http://user:secret@127.0.0.1:6379"},
        [],
        "'http://***@127.0.0.1:6379'",
        id="redis-url-scheme",
    ),
    pytest.param({"KILN_JOBS_STORE": "sqlite"}, [], "KILN_DATA_DIR must name", id="sqlite-no-dir"),
    pytest.param({"KILN_JOBS_STORE": "mysql"}, [], "not one of sqlite, redis", id="unknown-store"),
    pytest.param(
        {"KILN_DATA_DIR": "/tmp/kiln-jobs", "KILN_REDIS_URL": "redis://127.0.0.1:6379"},
        [],
        "set KILN_JOBS_STORE",
        id="two-stores",
    ),
    pytest.param(
        {"KILN_DATA_DIR": "/tmp/kiln-jobs"}, ["--workers", "2"], "--workers 1", id="sqlite-workers"
    ),
    pytest.param(
        {"KILN_DATA_DIR": "/tmp/kiln-jobs", "KILN_JOB_STORE_MAX_BYTES": "-1"},
        [],
        "KILN_JOB_STORE_MAX_BYTES",
        id="negative-max-bytes",
    ),
    pytest.param(
        {"KILN_DATA_DIR": "/tmp/kiln-jobs"},
        ["--job-reclaim-idle", "0"],
        "more than zero",
        id="reclaim",
    ),
]


@pytest.mark.parametrize(("env", "args", "words"), CASES)
def test_invalid_job_setting_exits_2(
    tmp_path: Path, env: dict[str, str], args: list[str], words: str
) -> None:
    result = serve(tmp_path, env, *args)

    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert "secret" not in result.stderr


def test_unusable_data_dir_exits_1(fast_model: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = {"KILN_DATA_DIR": str(blocker / "jobs")}
    with ServerProcess(model_dir=fast_model, env=env) as server:
        code = server.wait_exit(60)
        log = server.log()

    assert code == 1, log
    assert f"Cannot create the job store directory {blocker / 'jobs'}" in log
