"""Invalid settings stop `kiln serve` before it binds, naming the variable and the fix."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiln_service", "serve", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        timeout=60,
        check=False,
    )


CASES = [
    pytest.param({"KILN_PORT": "eighty"}, [], "KILN_PORT='eighty' is not a valid int", id="port"),
    pytest.param({"KILN_VERIFY": "sometimes"}, [], "not one of full, size", id="verify"),
    pytest.param({}, ["--drain-delay", "-1"], "KILN_DRAIN_DELAY", id="negative-drain"),
    pytest.param({}, ["--workers", "0"], "at least 1", id="workers"),
    pytest.param({"KILN_LOG_LEVEL": "verbose"}, [], "one of debug, info", id="log-level-env"),
    pytest.param({}, ["--log-level", "verbose"], "one of debug, info", id="log-level-flag"),
    pytest.param({"KILN_DRAIN_DELAY": "inf"}, [], "a finite number", id="infinite-drain"),
    pytest.param({}, ["--batch-wait-ms", "inf"], "a finite number", id="infinite-wait"),
    pytest.param({"PORT": "tcp://10.0.0.1:80"}, [], "PORT='tcp://10.0.0.1:80'", id="port-env"),
    pytest.param(
        {},
        ["--device", "cuda", "--workers", "2"],
        "one copy of the weights per worker",
        id="gpu-workers",
    ),
]


@pytest.mark.parametrize(("env", "args", "words"), CASES)
def test_invalid_setting_exits_2(
    tmp_path: Path, env: dict[str, str], args: list[str], words: str
) -> None:
    result = serve("--model-dir", str(tmp_path), *args, env=env)
    assert result.returncode == 2
    assert words in result.stderr


def test_no_model_and_no_backend(tmp_path: Path) -> None:
    result = serve()
    assert result.returncode == 2
    assert "--model-dir (KILN_MODEL_DIR)" in result.stderr
    assert "--backend (KILN_BACKEND_URL)" in result.stderr


def test_port_in_use_names_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve("--model-dir", str(tmp_path), "--port", str(port))
    assert result.returncode != 0
    assert f"could not listen on 127.0.0.1:{port}" in result.stderr
    assert "--port (KILN_PORT)" in result.stderr
