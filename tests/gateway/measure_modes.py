"""Measure local mode against gateway mode: time to ready, first-request latency, memory.

Run from the repository root, after `make model`:

    PYTHONPATH=tests .venv/bin/python -m gateway.measure_modes

Each setup starts fresh `kiln serve` processes on 127.0.0.1, waits for readiness, sends one
request, then `STEADY_REQUESTS` more one at a time, and reads the memory of every process
from /proc/PID/smaps_rollup. It prints a Markdown table of medians over `ROUNDS` rounds,
with the range of the timings in brackets, and memory as the median RSS / PSS.
Nothing here asserts a number, so this is a measurement, not a test.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.server_process import ServerProcess

MODEL_DIR = Path("models/all-minilm-l6-v2")
ROUNDS = 5
STEADY_REQUESTS = 20
BODY = {"input": "Kubernetes removes an unready pod from the endpoints."}


@dataclass
class Sample:
    ready_seconds: float
    first_ms: float
    steady_ms: float
    memory_mib: dict[str, tuple[float, float]] = field(default_factory=dict)


def memory_mib(pid: int) -> tuple[float, float]:
    """Return the RSS and PSS of one process in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0]) / 1024
    return values["Rss"], values["Pss"]


def worker_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def process_memory(server: ServerProcess) -> tuple[float, float]:
    """Return RSS and PSS of a server, summed over its worker processes when it has any."""
    pids = [server.process.pid, *worker_pids(server.process.pid)]
    readings = [memory_mib(pid) for pid in pids]
    return sum(r[0] for r in readings), sum(r[1] for r in readings)


def wait_ready(server: ServerProcess) -> float:
    server.wait_ready(timeout=120)
    return time.monotonic() - server.started_at


def post_ms(client: httpx.Client, server: ServerProcess) -> float:
    started = time.perf_counter()
    response = client.post(server.url("/v1/embeddings"), json=BODY)
    seconds = time.perf_counter() - started
    response.raise_for_status()
    return seconds * 1000


def measure_requests(server: ServerProcess) -> tuple[float, float]:
    with httpx.Client(timeout=60) as client:
        first = post_ms(client, server)
        steady = [post_ms(client, server) for _ in range(STEADY_REQUESTS)]
    return first, statistics.median(steady)


@contextmanager
def local_mode() -> Iterator[Sample]:
    with ServerProcess(model_dir=MODEL_DIR) as server:
        ready = wait_ready(server)
        first, steady = measure_requests(server)
        yield Sample(ready, first, steady, {"server": process_memory(server)})


@contextmanager
def gateway_mode(workers: int) -> Iterator[Sample]:
    with ExitStack() as stack:
        backend = stack.enter_context(ServerProcess(model_dir=MODEL_DIR))
        backend.wait_ready(timeout=120)
        args = ["--backend", backend.base_url, "--workers", str(workers)]
        gateway = stack.enter_context(ServerProcess(*args))
        ready = wait_ready(gateway)
        first, steady = measure_requests(gateway)
        memory = {"gateway": process_memory(gateway), "backend": process_memory(backend)}
        yield Sample(ready, first, steady, memory)


def spread(values: list[float], digits: int) -> str:
    """Return the median of `values` with their range, as `median (min-max)`."""
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def row(label: str, samples: list[Sample]) -> str:
    names = list(samples[0].memory_mib)
    rss = {name: statistics.median(s.memory_mib[name][0] for s in samples) for name in names}
    pss = {name: statistics.median(s.memory_mib[name][1] for s in samples) for name in names}
    memory = ", ".join(f"{name} {rss[name]:.0f} / {pss[name]:.0f}" for name in names)
    return (
        f"| {label} | {spread([s.ready_seconds for s in samples], 1)} | "
        f"{spread([s.first_ms for s in samples], 1)} | "
        f"{spread([s.steady_ms for s in samples], 1)} | {memory} | "
        f"{sum(pss.values()):.0f} |"
    )


def main() -> None:
    setups = {
        "local mode, 1 process": local_mode,
        "gateway, 1 worker + backend": lambda: gateway_mode(1),
        "gateway, 2 workers + backend": lambda: gateway_mode(2),
    }
    print(
        "| setup | ready after start (s) | first request (ms) | median of next "
        f"{STEADY_REQUESTS} requests (ms) | RSS / PSS (MiB) | total PSS (MiB) |"
    )
    print("|---|---|---|---|---|---|")
    for label, setup in setups.items():
        samples = []
        for _ in range(ROUNDS):
            with setup() as sample:
                samples.append(sample)
        print(row(label, samples), flush=True)


if __name__ == "__main__":
    main()
