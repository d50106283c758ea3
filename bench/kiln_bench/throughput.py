"""Throughput and latency against concurrency, for kiln and the servers a user would run.

All peers serve MiniLM on 127.0.0.1 to the same one-sentence requests. They are a naive
FastAPI server that loads sentence-transformers in its handler, `kiln serve
--max-batch-size 1` (unbatched), and `kiln serve` with dynamic batching. The ceiling is
sentence-transformers `encode` in process with batches of 32: no HTTP, no JSON, full batches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln_bench.cpu import CpuWindow
from kiln_bench.loadgen import LoadConfig
from kiln_bench.processes import HOST, Served, free_port
from kiln_bench.report import percentile
from kiln_bench.sentences import SENTENCES

MODEL_NAME = "all-MiniLM-L6-v2"
BATCH = 32


def bodies() -> list[str]:
    return [json.dumps({"input": sentence, "model": MODEL_NAME}) for sentence in SENTENCES]


@dataclass
class LoadPoint:
    """One load run at one concurrency, summarised."""

    concurrency: int
    requests: int
    per_second: float
    p50: float
    p90: float
    p99: float
    failures: int
    client_cpu_per_request: float
    client_cpu_share: float
    server_cpu_share: float
    server_cpu_per_request: float
    other_cpu_share: float
    first_latency: float | None

    @classmethod
    def from_result(cls, concurrency: int, result: dict[str, Any], cpu: CpuWindow) -> LoadPoint:
        latencies: list[float] = result["latencies"]
        seconds: float = result["measured_seconds"]
        client = result["client_cpu_seconds"]
        total = sum(result["statuses"].values()) + sum(result["errors"].values())
        ok = result["statuses"].get("200", 0)
        return cls(
            concurrency=concurrency,
            requests=len(latencies),
            per_second=len(latencies) / seconds,
            p50=percentile(latencies, 0.50),
            p90=percentile(latencies, 0.90),
            p99=percentile(latencies, 0.99),
            failures=total - ok,
            client_cpu_per_request=client / max(total, 1),
            client_cpu_share=client / max(cpu.busy, 1e-9),
            server_cpu_share=cpu.server / max(cpu.busy, 1e-9),
            server_cpu_per_request=cpu.server / max(ok, 1),
            other_cpu_share=cpu.other(client) / max(cpu.busy, 1e-9),
            first_latency=result["first_latency"],
        )


def run_load(server_pid: int | None, config: LoadConfig) -> tuple[dict[str, Any], CpuWindow]:
    """Run the load generator in its own process and return its results and the CPU split."""
    with CpuWindow(server_pid) as cpu:
        completed = subprocess.run(
            [sys.executable, "-m", "kiln_bench.loadgen", json.dumps(config.__dict__)],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(completed.stdout), cpu


def sweep(
    server: Served, concurrencies: tuple[int, ...], seconds: float, warmup: float
) -> list[LoadPoint]:
    points = []
    for concurrency in concurrencies:
        config = LoadConfig(
            host=HOST, port=server.port, path="/v1/embeddings", bodies=bodies(),
            concurrency=concurrency, duration=seconds, warmup=warmup,
        )  # fmt: skip
        result, cpu = run_load(server.process.pid, config)
        points.append(LoadPoint.from_result(concurrency, result, cpu))
    return points


def naive_server(model_dir: Path) -> Served:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "kiln_bench.naive_server:app",
               "--host", HOST, "--port", str(port), "--no-access-log"]  # fmt: skip
    env = {"KILN_BENCH_MODEL_DIR": str(model_dir), "HF_HUB_OFFLINE": "1"}
    return Served(command, port=port, env=env)


def naive_loads(server: Served) -> int:
    with urllib.request.urlopen(f"http://{HOST}:{server.port}/loads", timeout=10) as response:
        return int(json.loads(response.read())["loads"])


def naive_cold_burst(server: Served, concurrency: int) -> dict[str, float]:
    """Send `concurrency` first requests to a fresh naive server; return the wait and loads.

    This also warms the server up: the model is loaded once the burst has returned.
    """
    config = LoadConfig(
        host=HOST, port=server.port, path="/v1/embeddings", bodies=bodies(),
        concurrency=concurrency, duration=0.5, warmup=0.0,
    )  # fmt: skip
    result, _ = run_load(server.process.pid, config)
    return {"first_latency": result["first_latency"] or 0.0, "loads": naive_loads(server)}


def in_process(
    model_dir: Path, seconds: float, batch_sizes: tuple[int, ...]
) -> dict[int, dict[str, float]]:
    """Return sentence-transformers' sentences per second and per CPU second, by batch size."""
    completed = subprocess.run(
        [sys.executable, "-m", "kiln_bench.inprocess", str(model_dir), str(seconds),
         *(str(size) for size in batch_sizes)],
        check=True, capture_output=True, text=True, env=_offline_env(),
    )  # fmt: skip
    rates = json.loads(completed.stdout.strip().splitlines()[-1])
    return {int(size): rate for size, rate in rates.items()}


def _offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@contextmanager
def omp_policy(value: str | None) -> Iterator[None]:
    previous = os.environ.pop("OMP_WAIT_POLICY", None)
    if value is not None:
        os.environ["OMP_WAIT_POLICY"] = value
    try:
        yield
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)
        if previous is not None:
            os.environ["OMP_WAIT_POLICY"] = previous
