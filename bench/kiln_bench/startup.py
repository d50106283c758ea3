"""Start-to-ready: from `kiln serve` being spawned to `/readyz` returning 200.

Each model is started with its files evicted from the page cache (cold) and with them
cached (warm). Next to it stand its floors: reading the same files sequentially, and the
interpreter start plus imports every server process pays before it can load anything.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from kiln_bench.floors import (
    IMPORTS,
    cached_fraction,
    evict,
    import_seconds,
    model_files,
    sequential_read_seconds,
)
from kiln_bench.plan import Plan
from kiln_bench.plots import bar_chart
from kiln_bench.processes import Served
from kiln_bench.report import Section, Target, mebibytes, ratio, seconds

IMPORT_TARGET = 1.2


def start_once(model_dir: Path, *, cold: bool) -> tuple[float, dict[str, float], float]:
    """Start a server once; return start-to-ready, the server's own timings, cached share."""
    files = model_files(model_dir)
    if cold:
        evict(files)
    else:
        sequential_read_seconds(files)
    cached = cached_fraction(files)
    with Served.kiln(model_dir) as server:
        elapsed = server.wait_status("/readyz", 200)
        url = f"http://127.0.0.1:{server.port}/readyz"
        with urllib.request.urlopen(url, timeout=5) as response:
            timings = json.loads(response.read()).get("timings", {})
    return elapsed, timings, cached


def measure(plan: Plan, models: dict[str, Path]) -> Section:
    imports = {label: import_seconds(code, plan.import_repeats) for label, code in IMPORTS.items()}
    rows = []
    data: dict[str, object] = {"imports": imports, "models": {}}
    for label, model_dir in models.items():
        files = model_files(model_dir)
        size = sum(path.stat().st_size for path in files)
        evict(files)
        read_cold = sequential_read_seconds(files)
        read_warm = sequential_read_seconds(files)
        for cold in (True, False):
            runs = [start_once(model_dir, cold=cold) for _ in range(plan.repeats)]
            ready, timings, _ = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
            read = read_cold if cold else read_warm
            floor = imports["server modules and torch"] + read
            rows.append([
                label, "cold" if cold else "warm", mebibytes(size), seconds(ready),
                seconds(read), seconds(floor), f"{ratio(ready, floor):.2f}",
                _phase(timings, "load_started"), _phase(timings, "loaded", "load_started"),
                _phase(timings, "ready", "loaded"), f"{min(run[2] for run in runs):.0%}",
            ])  # fmt: skip
            data["models"][f"{label} {'cold' if cold else 'warm'}"] = {  # type: ignore[index]
                "bytes": size, "ready": ready, "read": read, "floor": floor, "timings": timings,
            }  # fmt: skip

    section = Section(
        "Start to ready",
        "Seconds from spawning `kiln serve` (default `--verify full`, which hashes every file) "
        "to the first `/readyz` 200, polled every 10 ms; median of "
        f"{plan.repeats} starts. *Cold* evicts the model's files from the page cache with "
        "`posix_fadvise(POSIX_FADV_DONTNEED)` first; *warm* reads them once first. The floor "
        "is the import time of torch and the server's modules plus one sequential read of "
        "the same files in the same cache state. The last columns split the server's own "
        "timings (from `/readyz`): interpreter start and imports, load (read, hash, map, "
        "build), warm-up.",
        data=data,
    )
    section.add_table(
        ["import", "python -c ..."],
        [[label, seconds(value)] for label, value in imports.items()],
    )
    section.add_table(
        ["model", "cache", "files", "start to ready", "sequential read", "floor",
         "ratio to floor", "imports", "load", "warm-up", "cached before start"],
        rows,
    )  # fmt: skip
    minilm = data["models"].get("MiniLM warm")  # type: ignore[attr-defined]
    if minilm is not None:
        measured = ratio(minilm["ready"], imports["torch"])
        section.targets.append(
            Target(
                "MiniLM start to ready (warm)",
                f'≤ {IMPORT_TARGET}x `python -c "import torch"`',
                f"{seconds(minilm['ready'])} = {measured:.2f}x of {seconds(imports['torch'])}",
                measured <= IMPORT_TARGET,
                _startup_why(imports, minilm),
            )
        )
    section.figures.append(_plot(plan, data))
    return section


def _startup_why(imports: dict[str, float], run: dict[str, Any]) -> str:
    timings: dict[str, float] = run["timings"]
    own_floor = ratio(imports["server modules and torch"], imports["torch"])
    parts = [
        f"importing torch and the server's modules alone takes {own_floor:.2f}x the torch "
        f"import ({seconds(imports['server modules and torch'])})"
    ]
    if {"load_started", "loaded", "ready"} <= timings.keys():
        parts.append(
            f"the server spent {seconds(timings['load_started'])} before the load, "
            f"{seconds(timings['loaded'] - timings['load_started'])} loading (torch import "
            "overlapped with reading and hashing), and "
            f"{seconds(timings['ready'] - timings['loaded'])} warming up"
        )
    return "; ".join(parts)


def _phase(timings: dict[str, float], end: str, start: str | None = None) -> str:
    if end not in timings or (start is not None and start not in timings):
        return "-"
    return seconds(timings[end] - (timings[start] if start else 0.0))


def _plot(plan: Plan, data: dict[str, object]) -> Path:
    models: dict[str, dict[str, float]] = data["models"]  # type: ignore[assignment]
    labels = list(models)
    return bar_chart(
        plan.figures_dir / "start-to-ready.png",
        title="Start to ready vs floor (imports + sequential read)",
        labels=labels,
        series={
            "start to ready": [models[label]["ready"] for label in labels],
            "floor": [models[label]["floor"] for label in labels],
        },
        ylabel="seconds",
    )
