"""Reading backend responses: valid bodies, malformed bodies and HTTP error statuses."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from kiln_service.api.errors import BadGateway, ServiceError
from kiln_service.gateway.responses import backend_message, read_embeddings, status_error

URL = "http://embedder:8000/v1/embeddings"


def response_of(body: object, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def item(index: int, vector: list[float]) -> dict[str, object]:
    return {"object": "embedding", "index": index, "embedding": vector}


def test_rows_follow_their_index() -> None:
    body = {"data": [item(1, [2.0, 2.0]), item(0, [1.0, 1.0])], "model": "m"}
    result = read_embeddings(response_of(body), URL, expected=2)
    np.testing.assert_array_equal(result.vectors, [[1.0, 1.0], [2.0, 2.0]])
    assert result.vectors.dtype == np.float32
    assert result.model == "m"


def test_usage_is_read() -> None:
    body = {"data": [item(0, [1.0])], "usage": {"prompt_tokens": 7, "total_tokens": 7}}
    assert read_embeddings(response_of(body), URL, expected=1).prompt_tokens == 7


def test_missing_usage_and_model_are_allowed() -> None:
    result = read_embeddings(response_of({"data": [item(0, [1.0])]}), URL, expected=1)
    assert result.prompt_tokens == 0
    assert result.model == ""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param([1, 2], "JSON list, not an object", id="list"),
        pytest.param({"data": {}}, "'data' is missing or not a list", id="data-object"),
        pytest.param({"data": [item(0, [1.0])]}, "contains 1 embeddings for 2 inputs", id="count"),
        pytest.param({"data": [item(0, [1.0]), item(0, [1.0])]}, "indexes", id="same-index"),
        pytest.param({"data": [item(0, [1.0]), item(1, [1.0, 2.0])]}, "lengths", id="ragged"),
        pytest.param({"data": [item(0, []), item(1, [])]}, "zero lengths", id="empty"),
        pytest.param({"data": [item(0, ["x"]), item(1, ["y"])]}, "numbers", id="strings"),
        pytest.param({"data": [1, 2]}, "item 0 of 'data' is not an object", id="items"),
        pytest.param({"data": [{"index": 0}, {"index": 1}]}, "no 'embedding'", id="no-vector"),
    ],
)
def test_malformed_response_is_502(body: object, words: str) -> None:
    with pytest.raises(BadGateway) as raised:
        read_embeddings(response_of(body), URL, expected=2)
    assert URL in raised.value.message
    assert words in raised.value.message
    assert raised.value.code == "backend_malformed_response"


def test_non_json_response_is_502() -> None:
    response = httpx.Response(200, text="<html>Bad gateway</html>")
    with pytest.raises(BadGateway, match="the body is not JSON"):
        read_embeddings(response, URL, expected=1)


@pytest.mark.parametrize(
    ("backend_status", "status", "code"),
    [
        pytest.param(400, 422, "backend_rejected", id="400"),
        pytest.param(422, 422, "backend_rejected", id="422"),
        pytest.param(413, 413, "too_large", id="413"),
        pytest.param(429, 503, "backend_unavailable", id="429"),
        pytest.param(503, 503, "backend_unavailable", id="503"),
        pytest.param(408, 504, "backend_timeout", id="408"),
        pytest.param(504, 504, "backend_timeout", id="504"),
        pytest.param(401, 502, "backend_error", id="401"),
        pytest.param(404, 502, "backend_error", id="404"),
        pytest.param(500, 502, "backend_error", id="500"),
        pytest.param(301, 502, "backend_error", id="redirect"),
    ],
)
def test_status_is_mapped(backend_status: int, status: int, code: str) -> None:
    error = status_error(response_of({"error": {"message": "boom"}}, backend_status), URL)
    assert isinstance(error, ServiceError)
    assert error.status_code == status
    assert error.code == code
    assert f"{URL} returned HTTP {backend_status}" in error.message
    assert "boom" in error.message


def test_error_status_raises_from_read() -> None:
    with pytest.raises(ServiceError) as raised:
        read_embeddings(response_of({"detail": "no"}, 500), URL, expected=1)
    assert raised.value.status_code == 502


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [
        pytest.param("7", 7.0, id="seconds"),
        pytest.param("0", 1.0, id="at-least-one"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", 1.0, id="http-date"),
    ],
)
def test_backend_retry_after_is_kept(retry_after: str, seconds: float) -> None:
    response = response_of({"error": "busy"}, 429, **{"Retry-After": retry_after})
    assert status_error(response, URL).retry_after == seconds


@pytest.mark.parametrize(
    ("response", "message"),
    [
        pytest.param(response_of({"error": {"message": "openai"}}), "openai", id="openai"),
        pytest.param(response_of({"object": "error", "message": "vllm"}), "vllm", id="vllm"),
        pytest.param(response_of({"error": "tei", "error_type": "Validation"}), "tei", id="tei"),
        pytest.param(response_of({"detail": "fastapi"}), "fastapi", id="fastapi"),
        pytest.param(httpx.Response(502, text="upstream\n  down"), "'upstream down'", id="text"),
        pytest.param(httpx.Response(502), "(empty body)", id="empty"),
        pytest.param(httpx.Response(502, text="x" * 1000), "x" * 297 + "...", id="long"),
    ],
)
def test_backend_message(response: httpx.Response, message: str) -> None:
    assert message in backend_message(response)
