"""Admission of inference requests: slow bodies, trailing slashes, echoed values."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.server_process import ServerProcess


@pytest.fixture(scope="module")
def strict_server(minilm_dir: Path) -> Iterator[ServerProcess]:
    with ServerProcess(
        "--max-inflight", "1", "--request-timeout", "2", model_dir=minilm_dir
    ) as server:
        server.wait_ready()
        yield server


def start_slow_upload(server: ServerProcess) -> socket.socket:
    """Send headers that promise 100 bytes of body, then only 10 of them."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"input": '
    )
    return sock


def test_slow_upload_takes_no_inflight_slot(strict_server: ServerProcess) -> None:
    slow = start_slow_upload(strict_server)
    try:
        time.sleep(0.3)
        response = httpx.post(strict_server.url("/v1/embeddings"), json={"input": "hi"})
    finally:
        slow.close()
    assert response.status_code == 200


def test_slow_upload_gets_408(strict_server: ServerProcess) -> None:
    slow = start_slow_upload(strict_server)
    slow.settimeout(10)
    try:
        reply = slow.recv(4096).decode()
    finally:
        slow.close()
    assert reply.startswith("HTTP/1.1 408"), reply
    assert "KILN_REQUEST_TIMEOUT" in reply, reply


def test_trailing_slash_is_404_not_redirect(strict_server: ServerProcess) -> None:
    response = httpx.post(
        strict_server.url("/v1/embeddings/"),
        json={"input": "hi"},
        headers={"Host": "evil.example"},
    )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_long_model_name_is_cut_in_message(strict_server: ServerProcess) -> None:
    response = httpx.post(
        strict_server.url("/v1/embeddings"), json={"input": "hi", "model": "m" * 100_000}
    )
    assert response.status_code == 404
    assert len(response.text) < 1000


@pytest.mark.parametrize(
    ("path", "words"),
    [
        pytest.param("/v1/jobs", "KILN_DATA_DIR", id="jobs"),
        pytest.param("/v1/jobs/job_123", "KILN_REDIS_URL", id="job"),
        pytest.param("/v1/classify", "KILN_ADAPTERS_DIR", id="classify"),
    ],
)
def test_disabled_feature_says_how_to_enable(
    strict_server: ServerProcess, path: str, words: str
) -> None:
    response = httpx.post(strict_server.url(path), json={"input": "hi"})
    assert response.status_code == 404
    assert words in response.json()["error"]["message"]
