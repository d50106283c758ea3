"""The backend client: endpoint URLs, and which connection failures it retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gateway.fake_backend import RawServer, close_at_once, never_respond
from harness.server_process import free_port
from kiln_service.api.errors import BadGateway, GatewayTimeout, ServiceError, Unavailable
from kiln_service.gateway.transport import RETRY_DELAYS, BackendClient, display_url, embeddings_url
from kiln_service.settings import Settings

ATTEMPTS = len(RETRY_DELAYS) + 1


@pytest.mark.parametrize(
    ("backend_url", "endpoint"),
    [
        pytest.param("http://e:8000", "http://e:8000/v1/embeddings", id="server"),
        pytest.param("http://e:8000/", "http://e:8000/v1/embeddings", id="slash"),
        pytest.param("http://e/v1", "http://e/v1/embeddings", id="v1-base"),
        pytest.param("http://e/proxy/v1/", "http://e/proxy/v1/embeddings", id="prefixed-v1"),
        pytest.param("http://e/v1/embeddings", "http://e/v1/embeddings", id="endpoint"),
        pytest.param("http://e/tei", "http://e/tei/v1/embeddings", id="prefix"),
    ],
)
def test_embeddings_url(backend_url: str, endpoint: str) -> None:
    assert embeddings_url(backend_url) == endpoint


def test_display_url_hides_credentials() -> None:
    assert display_url("https://user:s3cret@e:8443/v1") == "https://e:8443/v1"


@pytest.fixture
def raw_server(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    server = RawServer(request.param)
    yield server
    server.listener.close()


def post(url: str, **settings: float) -> ServiceError:
    async def send() -> ServiceError:
        client = BackendClient(Settings(backend_url=url, **settings))  # type: ignore[arg-type]
        try:
            await client.post_json({"input": ["x"]})
        except ServiceError as error:
            return error
        finally:
            await client.aclose()
        raise AssertionError("the request succeeded")

    return asyncio.run(send())


def test_refused_connection_is_retried_then_503() -> None:
    error = post(f"http://127.0.0.1:{free_port()}")
    assert isinstance(error, Unavailable)
    assert f"after {ATTEMPTS} attempts" in error.message
    assert error.retry_after == 5


@pytest.mark.parametrize("raw_server", [close_at_once], indirect=True)
def test_broken_connection_is_retried_then_502(raw_server: RawServer) -> None:
    error = post(raw_server.url)
    assert isinstance(error, BadGateway)
    assert error.code == "backend_connection_broken"
    assert raw_server.accepted == ATTEMPTS


@pytest.mark.parametrize("raw_server", [never_respond], indirect=True)
def test_timeout_is_not_retried(raw_server: RawServer) -> None:
    error = post(raw_server.url, backend_timeout=0.3)
    assert isinstance(error, GatewayTimeout)
    assert "0.3 s (KILN_BACKEND_TIMEOUT)" in error.message
    assert raw_server.accepted == 1
