"""Fake backends on 127.0.0.1: a misbehaving embeddings server and raw TCP servers.

`FakeBackend` speaks the OpenAI embeddings API. The first input of a request selects the
behaviour, so one server and one gateway cover every failure: an input from `FAULTS`
triggers that fault, and any other input gets a valid response of `DIMENSIONS` numbers per
input. `RawServer` accepts TCP connections and runs a handler that breaks the exchange.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-embedder"
DIMENSIONS = 8
SLOW_SECONDS = 3.0

# Input -> (status, extra headers, body). A body of None means a valid embeddings response.
FAULTS: dict[str, tuple[int, dict[str, str], object]] = {
    "not json": (200, {}, "<html>proxy error page</html>"),
    "data missing": (200, {}, {"object": "list", "model": MODEL}),
    "no embeddings": (200, {}, {"object": "list", "data": [], "model": MODEL}),
    "strings": (200, {}, {"data": [{"index": 0, "embedding": ["a", "b"]}], "model": MODEL}),
    "server error": (500, {}, {"error": {"message": "CUDA error: out of memory"}}),
    "too long": (422, {}, {"detail": "input is longer than 512 tokens"}),
    "overloaded": (429, {"Retry-After": "7"}, {"error": "queue is full"}),
    "wrong path": (404, {}, "Not Found"),
}


def embeddings_body(texts: list[str]) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": i, "embedding": [float(i + 1)] * DIMENSIONS}
        for i in range(len(texts))
    ]
    tokens = sum(len(text.split()) for text in texts)
    return {
        "object": "list",
        "data": data,
        "model": MODEL,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.server.requests.append(body)  # type: ignore[attr-defined]
        self.server.headers.append(dict(self.headers))  # type: ignore[attr-defined]
        if texts[0] == "slow":
            time.sleep(SLOW_SECONDS)
        status, headers, reply = FAULTS.get(texts[0], (200, {}, None))
        if reply is None:
            reply = embeddings_body(texts)
        payload = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        # The gateway may have given up on a slow response and closed the connection.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeBackend:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.requests = []  # type: ignore[attr-defined]
        self.server.headers = []  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.requests  # type: ignore[attr-defined, no-any-return]

    @property
    def headers(self) -> list[dict[str, str]]:
        return self.server.headers  # type: ignore[attr-defined, no-any-return]

    def __enter__(self) -> FakeBackend:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawServer:
    """A TCP server on 127.0.0.1 that runs `handle` on each accepted connection."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted = 0
        self._handle = handle
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()


def close_at_once(connection: socket.socket) -> None:
    connection.recv(65536)
    connection.close()


def never_respond(connection: socket.socket) -> None:
    connection.recv(65536)
    threading.Event().wait(10)
    connection.close()
