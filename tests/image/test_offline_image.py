"""The server image without any network and with a read-only root filesystem."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from containers import Container

pytestmark = pytest.mark.image

READY_TIMEOUT = 120.0

# Probes run inside the container, because with --network none nothing outside reaches it.
GET_READYZ = """
import urllib.error, urllib.request
try:
    print(urllib.request.urlopen("http://127.0.0.1:8000/readyz", timeout=2).status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print(0)
"""
POST_EMBEDDING = """
import json, urllib.request
request = urllib.request.Request(
    "http://127.0.0.1:8000/v1/embeddings",
    data=json.dumps({"input": "offline"}).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(request, timeout=30) as response:
    print(json.dumps({"status": response.status, "body": json.load(response)}))
"""


@pytest.fixture(scope="module")
def offline(server_image: str) -> Iterator[Container]:
    """Start the image offline and read-only, and wait until it is ready or the timeout passes."""
    with Container(server_image, "--network", "none", "--read-only") as container:
        deadline = time.monotonic() + READY_TIMEOUT
        while container.python(GET_READYZ).strip() != "200" and time.monotonic() < deadline:
            container.assert_running()
            time.sleep(0.5)
        yield container


def test_ready_offline_read_only(offline: Container) -> None:
    assert offline.python(GET_READYZ).strip() == "200", offline.logs()


def test_no_network_but_loopback(offline: Container) -> None:
    assert offline.exec("ls", "/sys/class/net").split() == ["lo"]


def test_root_filesystem_is_read_only(offline: Container) -> None:
    root = [line.split() for line in offline.exec("cat", "/proc/mounts").splitlines()]
    options = next(fields[3] for fields in root if fields[1] == "/")
    assert "ro" in options.split(",")


def test_serves_offline_read_only(offline: Container) -> None:
    result = json.loads(offline.python(POST_EMBEDDING))
    assert result["status"] == 200
    assert len(result["body"]["data"][0]["embedding"]) == 384
