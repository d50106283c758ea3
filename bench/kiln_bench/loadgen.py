"""A lean HTTP/1.1 load generator: asyncio protocols, keep-alive, one request per connection.

The client shares the machine's two cores with the server it measures, so it is built to
spend as little CPU as possible per request. Each connection is a bare `asyncio.Protocol`
(on uvloop when installed). It writes a pre-encoded request and parses only the status
line and `Content-Length` of the response. It runs in its own process and reports the CPU
time it used, so the report can state the client's own overhead next to every result.

Run as `python -m kiln_bench.loadgen CONFIG_JSON`; it prints one JSON object of results.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass, field


@dataclass
class LoadConfig:
    host: str
    port: int
    path: str
    bodies: list[str]
    concurrency: int
    duration: float
    warmup: float = 1.0
    timeout: float = 60.0
    # When set, clients stop sending new requests this long after GET `stop_when_unready`
    # first returns non-200, the way endpoints stop routing to a pod that turned unready.
    stop_when_unready: str | None = None
    unready_grace: float = 0.3
    method: str = "POST"


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    measured_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    unready_at: float | None = None
    first_latency: float | None = None


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection that carries one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        status = self._complete_response()
        if status is not None and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionResetError("connection closed by the server"))

    def _complete_response(self) -> int | None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self._buffer[:end]).lower()
        length = 0
        marker = head.find(b"content-length:")
        if marker >= 0:
            line_end = head.find(b"\r\n", marker)
            length = int(head[marker + 15 : line_end if line_end >= 0 else None])
        elif b"transfer-encoding: chunked" in head:
            raise ValueError("chunked responses are not supported by this load generator")
        if len(self._buffer) < end + 4 + length:
            return None
        status = int(head[9:12])
        del self._buffer[: end + 4 + length]
        return status

    async def request(self, payload: bytes) -> int:
        if self._closed or self.transport is None:
            raise ConnectionResetError("connection already closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self._waiter


def encode_request(config: LoadConfig, body: str) -> bytes:
    head = f"{config.method} {config.path} HTTP/1.1\r\nHost: {config.host}:{config.port}\r\n"
    if config.method == "GET":
        return (head + "\r\n").encode()
    data = body.encode()
    head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


class LoadRun:
    """`concurrency` clients, each sending its next request as soon as the last returns."""

    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.result = LoadResult()
        self._payloads = [encode_request(config, body) for body in config.bodies]
        self._measure_from = 0.0
        self._measure_until = 0.0
        self._stop_sending_at = float("inf")

    async def run(self) -> LoadResult:
        # time.perf_counter, not loop.time: uvloop's clock has a resolution of 1 ms.
        started = time.perf_counter()
        self._measure_from = started + self.config.warmup
        self._measure_until = self._measure_from + self.config.duration
        self._stop_sending_at = self._measure_until
        watcher = None
        if self.config.stop_when_unready:
            watcher = asyncio.create_task(self._watch_readiness())

        cpu_before = _cpu_seconds()
        await asyncio.gather(*(self._client(index) for index in range(self.config.concurrency)))
        self.result.client_cpu_seconds = _cpu_seconds() - cpu_before
        if watcher is not None:
            watcher.cancel()
        ended = min(time.perf_counter(), self._measure_until)
        self.result.measured_seconds = max(ended - self._measure_from, 1e-9)
        return self.result

    async def _client(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        connection: HttpConnection | None = None
        sent = index
        while time.perf_counter() < self._stop_sending_at:
            payload = self._payloads[sent % len(self._payloads)]
            sent += self.config.concurrency
            begun = time.perf_counter()
            try:
                if connection is None or connection.transport is None or connection._closed:
                    _, connection = await loop.create_connection(
                        HttpConnection, self.config.host, self.config.port
                    )
                status = await asyncio.wait_for(connection.request(payload), self.config.timeout)
            except (OSError, TimeoutError, ValueError) as error:
                self._count_error(type(error).__name__)
                connection = None
                await asyncio.sleep(0.01)
                continue
            done = time.perf_counter()
            if self.result.first_latency is None:
                self.result.first_latency = done - begun
            if begun >= self._measure_from and done <= self._measure_until:
                self.result.latencies.append(done - begun)
            key = str(status)
            self.result.statuses[key] = self.result.statuses.get(key, 0) + 1
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    def _count_error(self, name: str) -> None:
        self.result.errors[name] = self.result.errors.get(name, 0) + 1

    async def _watch_readiness(self) -> None:
        loop = asyncio.get_running_loop()
        url = self.config.stop_when_unready
        assert url is not None
        probe = f"GET {url} HTTP/1.1\r\nHost: {self.config.host}\r\n\r\n".encode()
        connection: HttpConnection | None = None
        while True:
            await asyncio.sleep(0.05)
            try:
                if connection is None or connection._closed:
                    _, connection = await loop.create_connection(
                        HttpConnection, self.config.host, self.config.port
                    )
                status = await asyncio.wait_for(connection.request(probe), 2.0)
            except (OSError, TimeoutError):
                status, connection = 0, None
            if status != 200:
                self.result.unready_at = time.time()
                self._stop_sending_at = time.perf_counter() + self.config.unready_grace
                return


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    config = LoadConfig(**json.loads(sys.argv[1]))
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(LoadRun(config).run())
    else:
        result = uvloop.run(LoadRun(config).run())
    json.dump(asdict(result), sys.stdout)


if __name__ == "__main__":
    main()
