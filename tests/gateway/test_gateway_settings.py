"""Settings of gateway mode: the backend URL, and several workers on one GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln_service.settings import Settings, SettingsError

MODEL_DIR = Path("/opt/kiln/model")


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:8001", id="server"),
        pytest.param("https://embedder.models.svc:8443/v1", id="v1-base"),
        pytest.param("http://embedder/v1/embeddings", id="endpoint"),
    ],
)
def test_backend_url_accepted(url: str) -> None:
    assert Settings(backend_url=url).backend_url == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        pytest.param("embedder:8000", "must be an http:// or https:// URL", id="no-scheme"),
        pytest.param("ftp://embedder", "must be an http:// or https:// URL", id="ftp"),
        pytest.param("http://", "must be an http:// or https:// URL", id="no-host"),
        pytest.param("http://embedder/v1?key=1", "remove the query", id="query"),
    ],
)
def test_backend_url_rejected(url: str, words: str) -> None:
    with pytest.raises(SettingsError, match="KILN_BACKEND_URL") as raised:
        Settings(backend_url=url)
    assert words in str(raised.value)


def test_backend_password_not_shown() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings(backend_url="ftp://user:s3cret@embedder")
    assert "s3cret" not in str(raised.value)
    assert "ftp://embedder" in str(raised.value)


def test_gpu_workers_rejected_in_local_mode() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings(model_dir=MODEL_DIR, device="cuda", workers=2)
    assert "--workers 2 with --device cuda" in str(raised.value)
    assert "use --backend to run several gateway workers" in str(raised.value)


def test_gpu_workers_allowed_in_gateway_mode() -> None:
    settings = Settings(backend_url="http://embedder:8000", device="cuda", workers=4)
    assert settings.workers == 4


def test_one_gpu_worker_allowed() -> None:
    assert Settings(model_dir=MODEL_DIR, device="cuda", workers=1).workers == 1
