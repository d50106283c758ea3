"""The embeddings API against a real MiniLM server, compared with sentence-transformers."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from harness.server_process import ServerProcess

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Kubernetes restarts a container whose liveness probe fails.",
    "",
    "Ünïcödé text, 東京, emoji 🚀 and punctuation!?",
    "a long input that exceeds the token limit " * 80,
]


@pytest.fixture(scope="module")
def reference(minilm_source: Path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_source), device="cpu")
    return np.asarray(model.encode(TEXTS, convert_to_numpy=True))


def post(server: ServerProcess, body: object) -> httpx.Response:
    # json.dumps escapes non-ASCII, so a lone surrogate reaches the server as JSON allows.
    return httpx.post(
        server.url("/v1/embeddings"),
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        timeout=30,
    )


def test_vectors_match_sentence_transformers(
    minilm_server: ServerProcess, reference: np.ndarray
) -> None:
    response = post(minilm_server, {"input": TEXTS})
    assert response.status_code == 200, response.text
    vectors = np.array([item["embedding"] for item in response.json()["data"]])
    np.testing.assert_allclose(vectors, reference, atol=1e-5)


def test_single_string_input(minilm_server: ServerProcess, reference: np.ndarray) -> None:
    response = post(minilm_server, {"input": TEXTS[0]})
    data = response.json()["data"]
    assert len(data) == 1
    np.testing.assert_allclose(data[0]["embedding"], reference[0], atol=1e-5)


def test_long_input_is_truncated_at_256_tokens(minilm_server: ServerProcess) -> None:
    response = post(minilm_server, {"input": [TEXTS[-1]]})
    assert response.json()["usage"]["prompt_tokens"] == 256


def test_response_shape(minilm_server: ServerProcess) -> None:
    body = post(minilm_server, {"input": ["a", "b"], "model": "all-MiniLM-L6-v2"}).json()
    assert body["object"] == "list"
    assert body["model"] == "all-MiniLM-L6-v2"
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert all(item["object"] == "embedding" for item in body["data"])
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] == 6


def test_base64_encoding(minilm_server: ServerProcess, reference: np.ndarray) -> None:
    body = post(minilm_server, {"input": TEXTS[1], "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype=np.float32)
    np.testing.assert_allclose(vector, reference[1], atol=1e-5)


# Without encoding_format the client asks for base64 and decodes it itself.
@pytest.mark.parametrize("options", [{}, {"encoding_format": "float"}], ids=["default", "float"])
def test_openai_client(
    minilm_server: ServerProcess, reference: np.ndarray, options: dict[str, str]
) -> None:
    client = openai.OpenAI(base_url=minilm_server.url("/v1"), api_key="not-checked")
    result = client.embeddings.create(
        model="all-MiniLM-L6-v2",
        input=TEXTS,
        **options,  # type: ignore[arg-type]
    )
    vectors = np.array([item.embedding for item in result.data])
    np.testing.assert_allclose(vectors, reference, atol=1e-5)
    assert result.usage.prompt_tokens > 0


def test_openai_client_wrong_model(minilm_server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=minilm_server.url("/v1"), api_key="not-checked")
    with pytest.raises(openai.NotFoundError, match="all-MiniLM-L6-v2"):
        client.embeddings.create(model="text-embedding-3-small", input="hello")


BAD_BODIES = [
    pytest.param({}, "'input' is required", id="missing-input"),
    pytest.param({"input": 5}, "input", id="number"),
    pytest.param({"input": [1, 2, 3]}, "input", id="token-array"),
    pytest.param({"input": ["ok", None]}, "input", id="null-item"),
    pytest.param({"input": []}, "empty list", id="empty-list"),
    pytest.param({"input": ["ok", "\ud800"]}, "lone surrogate U+D800", id="lone-surrogate"),
    pytest.param({"input": "x", "encoding_format": "hex"}, "encoding_format", id="format"),
    pytest.param({"input": "x", "dimensions": 12}, "384", id="dimensions"),
]


@pytest.mark.parametrize(("body", "words"), BAD_BODIES)
def test_invalid_body_is_422(minilm_server: ServerProcess, body: object, words: str) -> None:
    response = post(minilm_server, body)
    assert response.status_code == 422
    assert words in response.json()["error"]["message"]


def test_invalid_json_is_422(minilm_server: ServerProcess) -> None:
    response = httpx.post(
        minilm_server.url("/v1/embeddings"),
        content=b'{"input": ["unterminated',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["error"]["message"]


def test_too_many_inputs_names_the_limit(minilm_server: ServerProcess) -> None:
    response = post(minilm_server, {"input": ["x"] * 2049})
    assert response.status_code == 422
    assert "2048" in response.json()["error"]["message"]
    assert "KILN_MAX_INPUTS" in response.json()["error"]["message"]


def test_oversized_body_is_413(minilm_server: ServerProcess) -> None:
    response = post(minilm_server, {"input": ["x" * 1024 * 1024] * 5})
    assert response.status_code == 413
    assert "KILN_MAX_BODY_BYTES" in response.json()["error"]["message"]


def test_oversized_chunked_body_is_413(minilm_server: ServerProcess) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"input": ["'
        for _ in range(5):
            yield b"x" * 1024 * 1024
        yield b'"]}'

    response = httpx.post(
        minilm_server.url("/v1/embeddings"),
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


def test_unknown_model_is_404(minilm_server: ServerProcess) -> None:
    response = post(minilm_server, {"input": "x", "model": "gpt-4"})
    assert response.status_code == 404
    assert "all-MiniLM-L6-v2" in response.json()["error"]["message"]
