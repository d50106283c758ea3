"""The floors that start-up is compared with: reading the files, and importing the runtime.

A cold start is measured after `posix_fadvise(POSIX_FADV_DONTNEED)` has evicted the model's
files from the page cache. The kernel drops only clean pages that no process maps, so the
model's files must be closed and unmapped (no server running) when `evict` is called.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

READ_CHUNK_BYTES = 16 * 1024 * 1024

IMPORTS = {
    "python": "pass",
    "torch": "import torch",
    "server modules": "import kiln_service.cli, kiln_service.app",
    "server modules and torch": (
        "import torch, kiln_service.cli, kiln_service.app, kiln_service.models.bert"
    ),
}


def model_files(model_dir: Path) -> list[Path]:
    return sorted(path for path in model_dir.rglob("*") if path.is_file())


def evict(paths: list[Path]) -> None:
    """Drop the files' pages from the page cache."""
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(descriptor)
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def cached_fraction(paths: list[Path]) -> float:
    """Estimate the share of the files' bytes in the page cache, by reading one byte per MiB
    with `preadv2(RWF_NOWAIT)`, which fails instead of waiting when a page is not cached."""
    hits = probes = 0
    flag = getattr(os, "RWF_NOWAIT", None)
    if flag is None:
        return float("nan")
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(descriptor).st_size
            for offset in range(0, size, 2**20):
                probes += 1
                buffer = bytearray(1)
                with contextlib.suppress(BlockingIOError):
                    hits += os.preadv(descriptor, [buffer], offset, flag) == 1
        finally:
            os.close(descriptor)
    return hits / probes if probes else 1.0


def sequential_read_seconds(paths: list[Path]) -> float:
    """Read every file once in 16 MiB chunks and return the seconds it took."""
    buffer = bytearray(READ_CHUNK_BYTES)
    started = time.perf_counter()
    for path in paths:
        with path.open("rb", buffering=0) as stream:
            while stream.readinto(buffer):
                pass
    return time.perf_counter() - started


def import_seconds(code: str, repeats: int) -> tuple[float, float]:
    """Return the median wall time and CPU time of `python -c code`, from spawn to exit.

    CPU time (user plus system) moves much less than wall time when other processes compete
    for the cores, so it shows the real cost on a busy machine.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        before = _children_cpu()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - before)
    return statistics.median(walls), statistics.median(cpus)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
