"""Cycling through many adapters keeps the server's resident memory bounded.

500 adapters of 512 KiB each (250 MiB in all) pass through a cache of 8 MiB, and the test
reads the server's resident set size (RSS) from /proc. If evicted adapters were not
released, RSS would grow by about 225 MiB after the warm-up (with a cache large enough for
all 500, it grew by 229 MiB). The test allows a quarter of the total, 62.5 MiB, for
allocator and interpreter noise.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import torch

from adapters.adapter_files import metric_samples
from harness.model_files import bake_synthetic
from harness.server_process import ServerProcess
from kiln_service.adapters.manifest import write_adapter

ADAPTERS = 500
LABELS = 64
DIMENSIONS = 2048
ADAPTER_BYTES = (LABELS * DIMENSIONS + LABELS) * 4
CACHE_BYTES = 8 * 1024 * 1024
WARM_UP_ADAPTERS = 50
SAMPLE_EVERY = 25
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def many_adapters(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("many")
    base = bake_synthetic(root, name="wide-base", hidden=DIMENSIONS)
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(LABELS, DIMENSIONS, generator=generator)
    labels = [f"label-{i}" for i in range(LABELS)]
    for index in range(ADAPTERS):
        write_adapter(
            root / "adapters" / f"tenant-{index:03d}",
            base_model="wide-base",
            labels=labels,
            weight=weight + index,
            bias=torch.zeros(LABELS),
        )
    return base, root / "adapters"


def resident_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"/proc/{pid}/status has no VmRSS line")


def test_rss_stays_bounded(many_adapters: tuple[Path, Path]) -> None:
    base, adapters_dir = many_adapters
    options = (
        "--adapters-dir", str(adapters_dir),
        "--adapter-cache-bytes", str(CACHE_BYTES),
        "--adapter-cache-count", str(ADAPTERS),
    )  # fmt: skip
    names = [f"tenant-{index:03d}" for index in range(ADAPTERS)]
    with ServerProcess(*options, model_dir=base) as server, httpx.Client(timeout=30) as client:
        server.wait_ready()
        pid = server.process.pid

        def cycle(chunk: list[str]) -> None:
            for name in chunk:
                body = {"adapter": name, "input": "some words", "top_k": 1}
                response = client.post(server.url("/v1/classify"), json=body)
                assert response.status_code == 200, response.text

        cycle(names[:WARM_UP_ADAPTERS])
        warm = resident_bytes(pid)
        peak = warm
        for start in range(0, ADAPTERS, SAMPLE_EVERY):
            cycle(names[start : start + SAMPLE_EVERY])
            peak = max(peak, resident_bytes(pid))
            cached = metric_samples(server.url("/metrics"))["kiln_adapter_cache_bytes"]
            assert cached <= CACHE_BYTES

        samples = metric_samples(server.url("/metrics"))
        print(
            f"RSS after warm-up {warm / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB, growth "
            f"{(peak - warm) / MIB:.1f} MiB over {ADAPTERS} adapters of "
            f"{ADAPTER_BYTES / MIB:.2f} MiB with a {CACHE_BYTES / MIB:.0f} MiB cache; "
            f"{samples['kiln_adapter_cache_evictions_total']:.0f} evictions, load time "
            f"{samples['kiln_adapter_load_duration_seconds_sum']:.2f} s in all"
        )
        assert samples["kiln_adapter_cache_evictions_total"] >= ADAPTERS
        assert peak - warm < ADAPTERS * ADAPTER_BYTES / 4
