"""`POST /v1/jobs` and `GET /v1/jobs/{id}` against a real server with an SQLite store."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from harness.server_process import ServerProcess
from jobs.job_client import wait_until_done

INPUTS = ["the first text", "a second one", "third", "fourth text here", "the fifth"]


@pytest.fixture(scope="module")
def server(fast_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("jobs-api")
    with ServerProcess(model_dir=fast_model, env={"KILN_DATA_DIR": str(data_dir)}) as process:
        process.wait_ready()
        yield process


def submit(server: ServerProcess, body: object, **headers: str) -> httpx.Response:
    return httpx.post(server.url("/v1/jobs"), json=body, headers=headers, timeout=10)


def finished_job(server: ServerProcess, inputs: list[str]) -> str:
    response = submit(server, {"input": inputs})
    assert response.status_code == 202, response.text
    job_id = str(response.json()["id"])
    wait_until_done(server, [job_id], timeout=30)
    return job_id


def test_submit_returns_202_and_location(server: ServerProcess) -> None:
    response = submit(server, {"input": INPUTS})
    body = response.json()

    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/jobs/{body['id']}"
    assert body["status"] in ("queued", "running")
    assert body["input_count"] == len(INPUTS)


def test_result_pages_match_embeddings(server: ServerProcess) -> None:
    job_id = finished_job(server, INPUTS)
    rows: list[list[float]] = []
    indexes: list[int] = []
    path: str | None = f"/v1/jobs/{job_id}?limit=2"
    pages = 0
    while path is not None:
        body = httpx.get(server.url(path), timeout=5).json()
        rows += [item["embedding"] for item in body["result"]["data"]]
        indexes += [item["index"] for item in body["result"]["data"]]
        path = body["result"]["next"]
        pages += 1
    direct = httpx.post(server.url("/v1/embeddings"), json={"input": INPUTS}, timeout=10).json()

    assert pages == 3
    assert indexes == list(range(len(INPUTS)))
    expected = np.array([item["embedding"] for item in direct["data"]])
    np.testing.assert_allclose(np.array(rows), expected, rtol=1e-5, atol=1e-6)


def test_result_page_in_base64(server: ServerProcess) -> None:
    job_id = finished_job(server, INPUTS)
    floats = httpx.get(server.url(f"/v1/jobs/{job_id}?offset=3"), timeout=5).json()
    encoded = httpx.get(
        server.url(f"/v1/jobs/{job_id}?offset=3&encoding_format=base64"), timeout=5
    ).json()

    decoded = [
        np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
        for item in encoded["result"]["data"]
    ]
    assert [item["index"] for item in encoded["result"]["data"]] == [3, 4]
    assert encoded["result"]["next"] is None
    expected = [item["embedding"] for item in floats["result"]["data"]]
    np.testing.assert_allclose(np.array(decoded), np.array(expected), rtol=1e-6)


def test_done_job_reports_usage(server: ServerProcess) -> None:
    job_id = finished_job(server, INPUTS)
    body = httpx.get(server.url(f"/v1/jobs/{job_id}"), timeout=5).json()

    assert body["status"] == "done"
    assert body["attempts"] == 1
    assert body["usage"]["total_tokens"] == sum(len(text.split()) for text in INPUTS)
    assert body["model"] == "synthetic"


@pytest.mark.parametrize(
    "place",
    [
        pytest.param("header", id="header"),
        pytest.param("body", id="body-field"),
    ],
)
def test_idempotency_key_returns_existing_job(server: ServerProcess, place: str) -> None:
    key = f"import-{place}"
    body: dict[str, object] = {"input": INPUTS}
    headers = {"Idempotency-Key": key} if place == "header" else {}
    if place == "body":
        body["idempotency_key"] = key

    first = submit(server, body, **headers)
    second = submit(server, body, **headers)

    assert first.status_code == 202, first.text
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]


def test_idempotency_key_reused_for_other_inputs(server: ServerProcess) -> None:
    key = "reused-key"
    assert submit(server, {"input": INPUTS}, **{"Idempotency-Key": key}).status_code == 202
    response = submit(server, {"input": ["something else"]}, **{"Idempotency-Key": key})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_unknown_job_is_404(server: ServerProcess) -> None:
    response = httpx.get(server.url("/v1/jobs/job_missing"), timeout=5)

    assert response.status_code == 404
    assert "job_missing" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "headers", "words"),
    [
        pytest.param({"input": []}, {}, "empty list", id="empty-input"),
        pytest.param({"texts": ["a"]}, {}, "'input' is required", id="missing-input"),
        pytest.param({"input": [1, 2]}, {}, "input", id="not-strings"),
        pytest.param(
            {"input": ["a"], "idempotency_key": "one"},
            {"Idempotency-Key": "two"},
            "differ",
            id="two-keys",
        ),
        pytest.param(
            {"input": ["a"], "idempotency_key": ""}, {}, "idempotency_key", id="empty-key"
        ),
    ],
)
def test_invalid_submission_is_422(
    server: ServerProcess, body: object, headers: dict[str, str], words: str
) -> None:
    response = submit(server, body, **headers)

    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("offset=-1", id="negative-offset"),
        pytest.param("limit=0", id="zero-limit"),
        pytest.param("limit=1001", id="limit-over-max"),
        pytest.param("encoding_format=hex", id="unknown-encoding"),
    ],
)
def test_invalid_page_query_is_422(server: ServerProcess, query: str) -> None:
    job_id = finished_job(server, ["one text"])
    response = httpx.get(server.url(f"/v1/jobs/{job_id}?{query}"), timeout=5)

    assert response.status_code == 422, response.text


def test_other_model_is_404(server: ServerProcess) -> None:
    response = submit(server, {"input": ["a"], "model": "another-model"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_jobs_off_without_store(fast_model: Path) -> None:
    with ServerProcess(model_dir=fast_model) as process:
        process.wait_ready()
        response = submit(process, {"input": ["a"]})
        ready = httpx.get(process.url("/readyz"), timeout=5)

    assert response.status_code == 404
    assert ready.status_code == 200
