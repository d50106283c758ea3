"""Backend failures become clear HTTP errors that name the backend: 502, 503, 504, 4xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.fake_backend import DIMENSIONS, MODEL, FakeBackend, RawServer, never_respond
from harness.server_process import ServerProcess, free_port

BACKEND_TIMEOUT = 0.5
MAX_BATCH_SIZE = 4


@pytest.fixture(scope="module")
def fake_backend() -> Iterator[FakeBackend]:
    with FakeBackend() as backend:
        yield backend


@pytest.fixture(scope="module")
def gateway(fake_backend: FakeBackend) -> Iterator[ServerProcess]:
    args = ["--backend", fake_backend.url, "--backend-timeout", str(BACKEND_TIMEOUT)]
    args += ["--max-batch-size", str(MAX_BATCH_SIZE)]
    with ServerProcess(*args) as server:
        server.wait_ready(timeout=30)
        yield server


def embed(server: ServerProcess, text: str) -> httpx.Response:
    return httpx.post(server.url("/v1/embeddings"), json={"input": [text]}, timeout=30)


def test_valid_answer_is_forwarded(gateway: ServerProcess) -> None:
    response = embed(gateway, "hello")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == MODEL
    assert body["data"][0]["embedding"] == [1.0] * DIMENSIONS
    assert body["usage"]["prompt_tokens"] == 1


def test_learned_model_is_sent_to_backend(
    gateway: ServerProcess, fake_backend: FakeBackend
) -> None:
    embed(gateway, "hello")
    assert fake_backend.requests[-1]["model"] == MODEL
    assert fake_backend.requests[-1]["encoding_format"] == "float"


MALFORMED = "backend_malformed_response"


def test_large_request_is_split(gateway: ServerProcess, fake_backend: FakeBackend) -> None:
    texts = [f"text number {n}" for n in range(10)]
    seen = len(fake_backend.requests)
    response = httpx.post(gateway.url("/v1/embeddings"), json={"input": texts}, timeout=30)
    sizes = sorted(len(request["input"]) for request in fake_backend.requests[seen:])
    body = response.json()

    assert response.status_code == 200, response.text
    assert sizes == [2, 4, 4]
    assert [item["index"] for item in body["data"]] == list(range(10))
    assert body["data"][4]["embedding"] == [1.0] * DIMENSIONS  # the first of the second part
    assert body["usage"]["prompt_tokens"] == 30


def test_failed_part_fails_request(gateway: ServerProcess) -> None:
    texts = ["a", "b", "c", "d", "server error", "f"]
    response = httpx.post(gateway.url("/v1/embeddings"), json={"input": texts}, timeout=30)
    assert response.status_code == 502
    assert "CUDA error" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("text", "status", "code", "detail"),
    [
        pytest.param("not json", 502, MALFORMED, "not JSON", id="not-json"),
        pytest.param("data missing", 502, MALFORMED, "'data'", id="no-data"),
        pytest.param("no embeddings", 502, MALFORMED, "0 embeddings", id="count"),
        pytest.param("strings", 502, MALFORMED, "numbers", id="strings"),
        pytest.param("server error", 502, "backend_error", "CUDA error", id="http-500"),
        pytest.param("wrong path", 502, "backend_error", "HTTP 404", id="http-404"),
        pytest.param("too long", 422, "backend_rejected", "512 tokens", id="http-422"),
        pytest.param("overloaded", 503, "backend_unavailable", "queue is full", id="http-429"),
        pytest.param("slow", 504, "backend_timeout", "KILN_BACKEND_TIMEOUT", id="timeout"),
    ],
)
def test_backend_failure_is_mapped(
    gateway: ServerProcess,
    fake_backend: FakeBackend,
    text: str,
    status: int,
    code: str,
    detail: str,
) -> None:
    response = embed(gateway, text)
    error = response.json()["error"]
    assert response.status_code == status, response.text
    assert error["code"] == code
    assert f"{fake_backend.url}/v1/embeddings" in error["message"]
    assert detail in error["message"]


def test_backend_retry_after_is_passed_on(gateway: ServerProcess) -> None:
    response = embed(gateway, "overloaded")
    assert response.headers["Retry-After"] == "7"


def test_backend_failures_keep_gateway_ready(gateway: ServerProcess) -> None:
    embed(gateway, "server error")
    assert httpx.get(gateway.url("/readyz"), timeout=5).status_code == 200


def test_request_timeout_names_backend(fake_backend: FakeBackend) -> None:
    args = ["--backend", fake_backend.url, "--request-timeout", "1"]
    with ServerProcess(*args) as server:
        server.wait_ready(timeout=30)
        response = embed(server, "slow")

    error = response.json()["error"]
    assert response.status_code == 504
    assert error["code"] == "backend_timeout"
    assert fake_backend.url in error["message"]
    assert "KILN_REQUEST_TIMEOUT" in error["message"]


def test_url_credentials_become_basic_auth(fake_backend: FakeBackend) -> None:
    url = fake_backend.url.replace("http://", "http://kiln:s3cret@")
    with ServerProcess("--backend", url, "--log-level", "debug") as server:
        server.wait_ready(timeout=30)
        response = embed(server, "hello")
        log = server.log()

    assert response.status_code == 200
    assert fake_backend.headers[-1]["Authorization"] == "Basic a2lsbjpzM2NyZXQ="
    assert fake_backend.url in log
    assert "s3cret" not in log


@pytest.fixture(scope="module")
def gateway_without_backend() -> Iterator[ServerProcess]:
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    with ServerProcess("--backend", nothing_listens, "--backend-check-interval", "2") as server:
        server.wait_until("/startupz", 200, timeout=30)
        yield server


def test_unreachable_backend_is_503(gateway_without_backend: ServerProcess) -> None:
    response = embed(gateway_without_backend, "hello")
    error = response.json()["error"]
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert error["code"] == "backend_unreachable"
    assert "is unreachable: ConnectError" in error["message"]
    assert "after 3 attempts" in error["message"]


def test_unreachable_backend_makes_gateway_unready(
    gateway_without_backend: ServerProcess,
) -> None:
    readiness = httpx.get(gateway_without_backend.url("/readyz"), timeout=5)
    liveness = httpx.get(gateway_without_backend.url("/livez"), timeout=5)
    assert readiness.status_code == 503
    assert "is unreachable" in readiness.json()["checks"]["backend"]
    assert liveness.status_code == 200


def test_silent_backend_does_not_stop_start() -> None:
    silent = RawServer(never_respond)
    with ServerProcess("--backend", silent.url, "--load-timeout", "4") as server:
        server.wait_until("/startupz", 200, timeout=30)
        readiness = httpx.get(server.url("/readyz"), timeout=5)
        alive = server.process.poll() is None
    silent.listener.close()

    assert alive
    assert readiness.status_code == 503
    assert "did not respond to the first check within 2 s" in readiness.json()["checks"]["backend"]
