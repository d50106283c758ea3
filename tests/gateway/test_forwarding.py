"""A gateway in front of a real MiniLM server returns exactly what the server returns."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from harness.server_process import ServerProcess

MINILM_NAME = "all-MiniLM-L6-v2"
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Kubernetes removes an unready pod from the endpoints.",
    "",
    "Ünïcödé text, 東京, emoji 🚀 and punctuation!?",
]


@pytest.fixture(scope="module")
def gateway(minilm_server: ServerProcess) -> Iterator[ServerProcess]:
    with ServerProcess("--backend", minilm_server.base_url) as server:
        server.wait_ready(timeout=30)
        yield server


def embed(server: ServerProcess, body: dict[str, object]) -> dict[str, object]:
    response = httpx.post(server.url("/v1/embeddings"), json=body, timeout=30)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def vectors(body: dict[str, object]) -> np.ndarray:
    return np.array([item["embedding"] for item in body["data"]], dtype=np.float32)  # type: ignore[attr-defined]


def test_float_vectors_equal_local(gateway: ServerProcess, minilm_server: ServerProcess) -> None:
    forwarded = vectors(embed(gateway, {"input": TEXTS}))
    local = vectors(embed(minilm_server, {"input": TEXTS}))
    assert forwarded.shape == (len(TEXTS), 384)
    np.testing.assert_array_equal(forwarded, local)


def test_base64_vectors_equal_local(gateway: ServerProcess, minilm_server: ServerProcess) -> None:
    body = {"input": TEXTS, "encoding_format": "base64"}
    forwarded = [item["embedding"] for item in embed(gateway, body)["data"]]  # type: ignore[attr-defined]
    local = [item["embedding"] for item in embed(minilm_server, body)["data"]]  # type: ignore[attr-defined]
    assert forwarded == local
    assert len(base64.b64decode(forwarded[0])) == 384 * 4


def test_split_request_equals_local(gateway: ServerProcess, minilm_server: ServerProcess) -> None:
    texts = [f"sentence {n} about {'probes ' * (n % 7)}" for n in range(70)]
    forwarded = embed(gateway, {"input": texts})
    local = embed(minilm_server, {"input": texts})
    # Local mode sorts inputs by length before batching and the gateway sends them in
    # order, so the batches pad differently; padding changes results by rounding only.
    np.testing.assert_allclose(vectors(forwarded), vectors(local), atol=1e-6)
    assert forwarded["usage"] == local["usage"]


def test_usage_and_model_equal_local(gateway: ServerProcess, minilm_server: ServerProcess) -> None:
    forwarded = embed(gateway, {"input": TEXTS})
    local = embed(minilm_server, {"input": TEXTS})
    assert forwarded["usage"] == local["usage"]
    assert forwarded["model"] == local["model"] == MINILM_NAME


def test_openai_client_through_gateway(
    gateway: ServerProcess, minilm_server: ServerProcess
) -> None:
    client = openai.OpenAI(base_url=gateway.url("/v1"), api_key="not-checked")
    result = client.embeddings.create(model=MINILM_NAME, input=TEXTS[:2])
    local = vectors(embed(minilm_server, {"input": TEXTS[:2]}))
    np.testing.assert_array_equal(np.array([d.embedding for d in result.data]), local)


def test_other_model_is_404(gateway: ServerProcess) -> None:
    response = httpx.post(
        gateway.url("/v1/embeddings"), json={"input": "x", "model": "bge-large"}, timeout=30
    )
    assert response.status_code == 404
    assert MINILM_NAME in response.json()["error"]["message"]


def test_wrong_dimensions_is_422(gateway: ServerProcess) -> None:
    response = httpx.post(
        gateway.url("/v1/embeddings"), json={"input": "x", "dimensions": 768}, timeout=30
    )
    assert response.status_code == 422
    assert "384" in response.json()["error"]["message"]


def test_readiness_and_metrics_report_backend(gateway: ServerProcess) -> None:
    readiness = httpx.get(gateway.url("/readyz"), timeout=5).json()
    metrics = httpx.get(gateway.url("/metrics"), timeout=5).text
    assert readiness["ready"] is True
    assert "checks" not in readiness
    assert "kiln_backend_up 1.0" in metrics


def test_gateway_maps_no_torch(gateway: ServerProcess) -> None:
    maps = Path(f"/proc/{gateway.process.pid}/maps").read_text()
    assert "libtorch" not in maps
    assert ".safetensors" not in maps
