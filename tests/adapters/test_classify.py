"""`POST /v1/classify` against a real server: scores, and errors that stay with one adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from adapters.adapter_files import (
    expected_scores,
    flip_one_byte,
    labels_of,
    scrawl_manifest,
    truncate_head,
    write_random_adapter,
)
from harness.server_process import ServerProcess

TEXTS = ["the first text", "another input of several words", "x"]


def write_damaged(adapters_dir: Path, name: str, damage: Callable[[Path], None]) -> None:
    damage(write_random_adapter(adapters_dir, name))


@pytest.fixture(scope="module")
def adapters_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adapters")
    write_random_adapter(root, "alpha", labels=4, seed=1)
    write_random_adapter(root, "beta", labels=2, seed=2)
    write_damaged(root, "flipped", flip_one_byte)
    write_damaged(root, "truncated", truncate_head)
    write_damaged(root, "scrawled", scrawl_manifest)
    write_random_adapter(root, "other-base", base_model="another-model")
    write_random_adapter(root, "wide", dimensions=32)
    (root / "empty").mkdir()
    return root


@pytest.fixture(scope="module")
def server(synthetic_base: Path, adapters_dir: Path) -> Iterator[ServerProcess]:
    with ServerProcess("--adapters-dir", str(adapters_dir), model_dir=synthetic_base) as server:
        server.wait_ready()
        yield server


def classify(server: ServerProcess, body: object) -> httpx.Response:
    return httpx.post(server.url("/v1/classify"), json=body, timeout=30)


def embeddings(server: ServerProcess, texts: list[str]) -> np.ndarray:
    response = httpx.post(server.url("/v1/embeddings"), json={"input": texts}, timeout=30)
    return np.array([item["embedding"] for item in response.json()["data"]])


def test_scores_match_the_head(server: ServerProcess, adapters_dir: Path) -> None:
    response = classify(server, {"adapter": "alpha", "input": TEXTS})
    assert response.status_code == 200, response.text

    body = response.json()
    labels = labels_of(adapters_dir / "alpha")
    expected = expected_scores(adapters_dir / "alpha", embeddings(server, TEXTS))
    assert body["adapter"] == "alpha"
    assert body["model"] == "synthetic"
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    for item, row in zip(body["data"], expected, strict=True):
        scores = dict(zip(item["labels"], item["scores"], strict=True))
        assert sorted(scores) == sorted(labels)
        np.testing.assert_allclose([scores[label] for label in labels], row, atol=1e-5)
        assert item["scores"] == sorted(item["scores"], reverse=True)
        assert item["label"] == labels[int(np.argmax(row))]


def test_single_string_and_top_k(server: ServerProcess) -> None:
    body = classify(server, {"adapter": "beta", "input": "one text", "top_k": 1}).json()
    assert len(body["data"]) == 1
    assert body["data"][0]["labels"] == [body["data"][0]["label"]]
    assert len(body["data"][0]["scores"]) == 1


@pytest.mark.parametrize(
    ("adapter", "status", "reason"),
    [
        pytest.param("missing", 404, "was not found", id="unknown"),
        pytest.param("flipped", 422, "sha256 checksum of head.safetensors differs", id="checksum"),
        pytest.param("truncated", 422, "the file is truncated", id="truncated"),
        pytest.param("scrawled", 422, "kiln-adapter.json cannot be read", id="corrupt-manifest"),
        pytest.param("empty", 422, "has no kiln-adapter.json", id="no-manifest"),
        pytest.param("other-base", 422, "fit on base model 'another-model'", id="other-base"),
        pytest.param("wide", 422, "expects 32-dimensional embeddings", id="dimensions"),
        pytest.param("../alpha", 422, "is not valid", id="path"),
    ],
)
def test_bad_adapter_fails_alone(
    server: ServerProcess, adapter: str, status: int, reason: str
) -> None:
    response = classify(server, {"adapter": adapter, "input": TEXTS})
    assert response.status_code == status
    assert reason in response.json()["error"]["message"]
    assert httpx.get(server.url("/readyz"), timeout=5).status_code == 200
    assert classify(server, {"adapter": "alpha", "input": "still works"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param({"adapter": "alpha", "input": []}, "empty list", id="empty"),
        pytest.param({"input": "text"}, "'adapter' is required", id="no-adapter"),
        pytest.param({"adapter": "alpha", "input": "a", "top_k": 0}, "top_k", id="top-k"),
        pytest.param({"adapter": "alpha", "input": "a", "topk": 1}, "topk", id="unknown-field"),
    ],
)
def test_invalid_request(server: ServerProcess, body: object, reason: str) -> None:
    response = classify(server, body)
    assert response.status_code == 422
    assert reason in response.json()["error"]["message"]


def test_metrics_are_exported(server: ServerProcess) -> None:
    text = httpx.get(server.url("/metrics"), timeout=5).text
    for name in [
        "kiln_adapter_cache_hits_total",
        "kiln_adapter_cache_misses_total",
        "kiln_adapter_cache_evictions_total",
        "kiln_adapter_loads_in_progress",
        "kiln_adapter_cache_bytes",
        "kiln_adapter_load_duration_seconds_bucket",
    ]:
        assert name in text


def test_fuzzed_requests_get_no_server_error(server: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(server.url("/openapi.json"))
    operation = schema["/v1/classify"]["POST"]

    @given(
        case=operation.as_strategy()
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    )
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
        response = case.call(base_url=server.base_url, timeout=30)
        case.validate_response(response, checks=[not_a_server_error])

    check()
