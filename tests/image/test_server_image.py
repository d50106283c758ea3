"""The server image with the default model: start-up under probes, serving, and contents."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from containers import Container, image_config

from harness.kubelet import Probe, Result
from harness.server_process import free_port

pytestmark = pytest.mark.image

READY_TIMEOUT = 120.0
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Kubernetes restarts a container whose liveness probe fails.",
]
MANIFEST_PATH = "/opt/kiln/model/kiln-manifest.json"

# Prints {path: sha256} for every file the manifest lists, hashed inside the container.
HASH_FILES = """
import hashlib, json, pathlib
root = pathlib.Path("/opt/kiln/model")
manifest = json.loads((root / "kiln-manifest.json").read_text())
print(json.dumps({
    entry["path"]: hashlib.sha256((root / entry["path"]).read_bytes()).hexdigest()
    for entry in manifest["files"]
}))
"""


@dataclass
class Started:
    container: Container
    base_url: str
    liveness: Probe
    readiness: Probe


def state_of(body: str) -> str:
    return str(json.loads(body)["state"])


@pytest.fixture(scope="module")
def started(server_image: str) -> Iterator[Started]:
    """Start the image with host networking on 127.0.0.1, probing from its first moment."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    container = Container(
        server_image, "--network", "host", env={"PORT": str(port), "KILN_HOST": "127.0.0.1"}
    )
    with container:
        liveness = Probe(base_url + "/livez", period=0.05).start()
        readiness = Probe(base_url + "/readyz", period=0.05).start()
        deadline = time.monotonic() + READY_TIMEOUT
        while readiness.first_success() is None and time.monotonic() < deadline:
            container.assert_running()
            time.sleep(0.1)
        time.sleep(0.3)
        liveness.stop()
        readiness.stop()
        assert readiness.first_success() is not None, container.logs()
        yield Started(container, base_url, liveness, readiness)


@pytest.fixture(scope="module")
def reference(minilm_source: Path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_source), device="cpu")
    return np.asarray(model.encode(TEXTS, convert_to_numpy=True))


def longest_failure_streak(results: list[Result]) -> int:
    streak = longest = 0
    for result in results:
        streak = 0 if result.ok else streak + 1
        longest = max(longest, streak)
    return longest


# The kubelet restarts a container only after failure_threshold failed probes in a row,
# so a single slow response on a busy machine is within what Kubernetes tolerates.
def test_liveness_answers_during_load(started: Started) -> None:
    results = started.liveness.results
    first_answer = next(index for index, r in enumerate(results) if r.status is not None)
    after_bind = results[first_answer:]
    states = {state_of(r.body) for r in after_bind if r.ok}
    failures = [r for r in after_bind if not r.ok]
    assert longest_failure_streak(after_bind) < started.liveness.failure_threshold, failures
    assert "loading" in states or "warming" in states, states


def test_readiness_only_after_warm_up(started: Started) -> None:
    first_ready = started.readiness.first_success()
    assert first_ready is not None
    before = [r for r in started.readiness.results if r.sent_at < first_ready.sent_at]
    answered = [r for r in before if r.status is not None]
    after = [r for r in started.readiness.results if r.sent_at >= first_ready.sent_at]
    assert answered, "no readiness probe was answered before the server was ready"
    assert all(r.status == 503 for r in answered)
    assert "warming" in {state_of(r.body) for r in answered}
    assert longest_failure_streak(after) < started.readiness.failure_threshold
    assert "warm-up done" in started.container.logs()


def test_embedding_matches_reference(started: Started, reference: np.ndarray) -> None:
    response = httpx.post(started.base_url + "/v1/embeddings", json={"input": TEXTS}, timeout=30)
    assert response.status_code == 200, response.text
    vectors = np.array([item["embedding"] for item in response.json()["data"]])
    np.testing.assert_allclose(vectors, reference, atol=1e-5)


def test_user_is_not_root(started: Started, server_image: str) -> None:
    assert started.container.exec("id", "-u").strip() == "10001"
    assert image_config(server_image)["Config"]["User"] == "10001:10001"


def test_server_is_pid_1(started: Started) -> None:
    command = started.container.exec("cat", "/proc/1/cmdline").split("\0")
    assert command[1:3] == ["/opt/venv/bin/kiln", "serve"], command


def test_stop_signal_is_sigterm(server_image: str) -> None:
    assert image_config(server_image)["Config"]["StopSignal"] == "SIGTERM"


def test_weights_match_manifest(started: Started) -> None:
    manifest = json.loads(started.container.read_file(MANIFEST_PATH))
    hashed = json.loads(started.container.python(HASH_FILES))
    assert manifest["files"]
    for entry in manifest["files"]:
        assert hashed[entry["path"]] == entry["sha256"], entry["path"]


def has_access(container: Container, test_flag: str, path: str) -> bool:
    """Run the shell's `test FLAG PATH` as the container's user."""
    output = container.exec("sh", "-c", f"test {test_flag} {path} && echo yes || echo no")
    return output.strip() == "yes"


def test_weights_are_read_only_to_server(started: Started) -> None:
    weights = "/opt/kiln/model/model.safetensors"
    assert has_access(started.container, "-r", weights)
    assert not has_access(started.container, "-w", weights)
    assert not has_access(started.container, "-w", "/opt/kiln/model")


def test_labels_match_manifest(started: Started, server_image: str) -> None:
    manifest_bytes = started.container.read_file(MANIFEST_PATH)
    manifest = json.loads(manifest_bytes)
    labels = image_config(server_image)["Config"]["Labels"]
    assert labels["dev.kiln.model.name"] == manifest["name"] == "all-MiniLM-L6-v2"
    assert labels["dev.kiln.model.weight-bytes"] == str(manifest["weight_bytes"])
    assert labels["dev.kiln.model.manifest-sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
