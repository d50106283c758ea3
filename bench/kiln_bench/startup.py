"""Start-to-ready: from `kiln serve` being spawned to `/readyz` returning 200.

Each model is started with its files evicted from the page cache (cold) and with them
cached (warm). Next to it stand its floors: reading the same files sequentially, and the
interpreter start plus imports every server process pays before it can load anything.
Wall time is the target's measure. CPU time (user plus system, of the server's process up
to ready and of each import) is reported beside it, because it changes far less when other
processes compete for the two cores.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln_bench.cpu import tree_cpu_seconds
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


@dataclass
class StartRun:
    ready: float
    cpu: float
    timings: dict[str, float]
    cached: float


def start_once(model_dir: Path, *, cold: bool, verify: str = "full") -> StartRun:
    """Start a server once and stop it when ready."""
    files = model_files(model_dir)
    if cold:
        evict(files)
    else:
        sequential_read_seconds(files)
    cached = cached_fraction(files)
    with Served.kiln(model_dir, "--verify", verify) as server:
        elapsed = server.wait_status("/readyz", 200)
        cpu = tree_cpu_seconds(server.process.pid)
        url = f"http://127.0.0.1:{server.port}/readyz"
        with urllib.request.urlopen(url, timeout=5) as response:
            timings = json.loads(response.read()).get("timings", {})
    return StartRun(elapsed, cpu, timings, cached)


def measure(plan: Plan, models: dict[str, Path]) -> Section:
    imports = {label: import_seconds(code, plan.import_repeats) for label, code in IMPORTS.items()}
    rows = []
    runs_by_case: dict[str, dict[str, Any]] = {}
    for label, model_dir in models.items():
        files = model_files(model_dir)
        size = sum(path.stat().st_size for path in files)
        evict(files)
        read_cold = sequential_read_seconds(files)
        read_warm = sequential_read_seconds(files)
        cases = [("cold", True, "full"), ("warm", False, "full")]
        if size > 2**30 // 2:
            cases.append(("warm, --verify size", False, "size"))
        for case, cold, verify in cases:
            runs = [start_once(model_dir, cold=cold, verify=verify) for _ in range(plan.repeats)]
            median = sorted(runs, key=lambda run: run.ready)[len(runs) // 2]
            read = read_cold if cold else read_warm
            floor = imports["server modules and torch"][0] + read
            timings = median.timings
            rows.append([
                label, case, mebibytes(size), seconds(median.ready),
                seconds(read), seconds(floor), f"{ratio(median.ready, floor):.2f}",
                seconds(median.cpu), _phase(timings, "load_started"),
                _phase(timings, "loaded", "load_started"), _phase(timings, "ready", "loaded"),
                f"{min(run.cached for run in runs):.0%}",
            ])  # fmt: skip
            runs_by_case[f"{label} {case}"] = {
                "bytes": size, "ready": median.ready, "cpu": median.cpu, "read": read,
                "floor": floor, "timings": timings,
            }  # fmt: skip

    section = Section(
        "Start to ready",
        "Seconds from spawning `kiln serve` (default `--verify full`, which hashes every file) "
        "to the first `/readyz` 200, polled every 10 ms; median of "
        f"{plan.repeats} starts. *Cold* evicts the model's files from the page cache with "
        "`posix_fadvise(POSIX_FADV_DONTNEED)` first; *warm* reads them once first. The floor "
        "is the import time of torch and the server's modules plus one sequential read of "
        "the same files in the same cache state. For models over 512 MiB a third case starts "
        "warm with `--verify size`, which checks sizes and headers but hashes nothing, to "
        "show what the sha256 pass costs. *CPU to ready* is the server process's "
        "user plus system time when it turned ready. The last columns split the server's own "
        "timings (from `/readyz`): interpreter start and imports, load (read, hash, map, "
        "build, with `import torch` in a thread beside the read), warm-up.",
        data={"imports": imports, "models": runs_by_case},
    )
    section.add_table(
        ["import", "python -c ... (wall)", "CPU time"],
        [[label, seconds(wall), seconds(cpu)] for label, (wall, cpu) in imports.items()],
    )
    section.add_table(
        ["model", "cache", "files", "start to ready", "sequential read", "floor",
         "ratio to floor", "CPU to ready", "imports", "load", "warm-up", "cached before start"],
        rows,
    )  # fmt: skip
    minilm = runs_by_case.get("MiniLM warm")
    if minilm is not None:
        section.targets.append(_target(imports, minilm))
    section.figures.append(_plot(plan, runs_by_case))
    return section


def _target(imports: dict[str, tuple[float, float]], run: dict[str, Any]) -> Target:
    torch_wall, torch_cpu = imports["torch"]
    measured = ratio(run["ready"], torch_wall)
    return Target(
        "MiniLM start to ready (warm)",
        f'≤ {IMPORT_TARGET}x `python -c "import torch"`',
        f"{seconds(run['ready'])} = {measured:.2f}x of {seconds(torch_wall)}; CPU time "
        f"{seconds(run['cpu'])} = {ratio(run['cpu'], torch_cpu):.2f}x of {seconds(torch_cpu)}",
        measured <= IMPORT_TARGET,
        _startup_why(imports, run),
    )


def _startup_why(imports: dict[str, tuple[float, float]], run: dict[str, Any]) -> str:
    timings: dict[str, float] = run["timings"]
    both_cpu = imports["server modules and torch"][1]
    parts = [
        "importing torch and the server's modules alone costs "
        f"{ratio(both_cpu, imports['torch'][1]):.2f}x the CPU time of importing torch, and "
        "imports hold the GIL, so running them in parallel threads gains little"
    ]
    if {"load_started", "loaded", "ready"} <= timings.keys():
        parts.append(
            f"the server spent {seconds(timings['load_started'])} before the load, "
            f"{seconds(timings['loaded'] - timings['load_started'])} loading (torch import "
            "beside reading and hashing), and "
            f"{seconds(timings['ready'] - timings['loaded'])} warming up"
        )
    return "; ".join(parts)


def _phase(timings: dict[str, float], end: str, start: str | None = None) -> str:
    if end not in timings or (start is not None and start not in timings):
        return "-"
    return seconds(timings[end] - (timings[start] if start else 0.0))


def _plot(plan: Plan, runs_by_case: dict[str, dict[str, Any]]) -> Path:
    labels = list(runs_by_case)
    return bar_chart(
        plan.figures_dir / "start-to-ready.png",
        title="Start to ready vs floor (imports + sequential read)",
        labels=labels,
        series={
            "start to ready": [runs_by_case[label]["ready"] for label in labels],
            "floor": [runs_by_case[label]["floor"] for label in labels],
            "CPU to ready": [runs_by_case[label]["cpu"] for label in labels],
        },
        ylabel="seconds",
    )
