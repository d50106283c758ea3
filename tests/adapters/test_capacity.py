"""A real server at its adapter limit: pinning, eviction order, and one load per adapter.

The slow requests use adapters whose manifest sets `forward_delay_seconds`: the head's
forward pass sleeps that long in its worker thread, with the adapter pinned, exactly as a
slow real head would. The base model stays fast, so other requests are not queued behind
the slow one. The weak-reference check of released tensors is in test_cache.py, in-process,
because a server process offers no way to observe its tensors.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np

from adapters.adapter_files import expected_scores, labels_of, metric_samples, write_random_adapter
from harness.load import InFlight
from harness.server_process import ServerProcess

SLOW_SECONDS = 3.0
TEXTS = ["a slow request", "with two inputs"]


def classify(server: ServerProcess, adapter: str, texts: list[str]) -> httpx.Response:
    return httpx.post(
        server.url("/v1/classify"), json={"adapter": adapter, "input": texts}, timeout=30
    )


def wait_until_loaded(server: ServerProcess, adapters: int, timeout: float = 10.0) -> None:
    """Wait until `adapters` adapters are resident and no load runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples = metric_samples(server.url("/metrics"))
        if (
            samples["kiln_adapter_cache_adapters"] == adapters
            and samples["kiln_adapter_loads_in_progress"] == 0
        ):
            return
        time.sleep(0.02)
    raise AssertionError(f"{adapters} adapters were not resident within {timeout} s")


def send_in_thread(server: ServerProcess, adapter: str) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []

    def send() -> None:
        result.append(classify(server, adapter, TEXTS))

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, result


def test_pinned_adapter_survives_eviction(synthetic_base: Path, tmp_path: Path) -> None:
    write_random_adapter(tmp_path, "a", forward_delay=SLOW_SECONDS, seed=1)
    write_random_adapter(tmp_path, "b", seed=2)
    write_random_adapter(tmp_path, "c", seed=3)
    options = ("--adapters-dir", str(tmp_path), "--adapter-cache-count", "2")
    with ServerProcess(*options, model_dir=synthetic_base) as server:
        server.wait_ready()
        a_thread, a_result = send_in_thread(server, "a")
        wait_until_loaded(server, 1)

        assert classify(server, "b", ["b"]).status_code == 200
        assert classify(server, "c", ["c"]).status_code == 200
        assert a_thread.is_alive(), "the slow request finished before C arrived"
        after_c = metric_samples(server.url("/metrics"))
        assert after_c["kiln_adapter_cache_evictions_total"] == 1
        assert after_c["kiln_adapter_cache_adapters"] == 2

        a_thread.join(30)
        response = a_result[0]
        assert isinstance(response, httpx.Response)
        assert response.status_code == 200, response.text
        vectors = httpx.post(server.url("/v1/embeddings"), json={"input": TEXTS}, timeout=30)
        expected = expected_scores(
            tmp_path / "a", np.array([row["embedding"] for row in vectors.json()["data"]])
        )
        labels = labels_of(tmp_path / "a")
        for item, row in zip(response.json()["data"], expected, strict=True):
            scores = dict(zip(item["labels"], item["scores"], strict=True))
            np.testing.assert_allclose([scores[label] for label in labels], row, atol=1e-5)

        # A is still resident (a hit) and B was the one evicted (a miss).
        assert classify(server, "a", ["again"]).status_code == 200
        after_a = metric_samples(server.url("/metrics"))
        assert (
            after_a["kiln_adapter_cache_hits_total"] == after_c["kiln_adapter_cache_hits_total"] + 1
        )
        assert classify(server, "b", ["again"]).status_code == 200
        after_b = metric_samples(server.url("/metrics"))
        assert (
            after_b["kiln_adapter_cache_misses_total"]
            == after_a["kiln_adapter_cache_misses_total"] + 1
        )


def test_concurrent_first_requests_load_once(synthetic_base: Path, tmp_path: Path) -> None:
    """Twenty requests for one adapter arrive while the only cache slot is pinned.

    The slot stays pinned for SLOW_SECONDS, so all twenty are certain to arrive before the
    load can finish, however slowly the test machine sends them.
    """
    write_random_adapter(tmp_path, "slow", forward_delay=SLOW_SECONDS, seed=1)
    write_random_adapter(tmp_path, "target", seed=2)
    options = ("--adapters-dir", str(tmp_path), "--adapter-cache-count", "1")
    with ServerProcess(*options, model_dir=synthetic_base) as server:
        server.wait_ready()
        slow_thread, _ = send_in_thread(server, "slow")
        wait_until_loaded(server, 1)

        body = {"adapter": "target", "input": TEXTS}
        burst = InFlight(server.url("/v1/classify"), body, count=20).start()
        deadline = time.monotonic() + SLOW_SECONDS
        while metric_samples(server.url("/metrics"))["kiln_adapter_cache_misses_total"] < 21:
            assert time.monotonic() < deadline, "the twenty requests did not all arrive in time"
            time.sleep(0.02)
        assert slow_thread.is_alive(), "the slot was released before all twenty arrived"

        outcomes = burst.join(30)
        assert [outcome.status for outcome in outcomes] == [200] * 20
        samples = metric_samples(server.url("/metrics"))
        assert samples["kiln_adapter_loads_total{result=loaded}"] == 2
        assert samples["kiln_adapter_cache_misses_total"] == 21
        assert samples["kiln_adapter_cache_evictions_total"] == 1
