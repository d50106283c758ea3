"""Memory: peak resident set during load, and proportional set size across workers.

Peak RSS is the kernel's high-water mark (`VmHWM` in /proc/PID/status) read once the server
is ready. Its peer is `torch.load` of a `torch.save` file with the same tensors. Each side
is compared with the weight bytes plus its own runtime, which is the high-water mark of the
same process with a model of a few KiB (the server) or of `import torch` alone (torch.load).
PSS divides every shared page among the processes that map it, so the sum over processes is
what they really cost the node; it comes from /proc/PID/smaps_rollup.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kiln_bench.generated import synthetic_model, torch_checkpoint
from kiln_bench.plan import Plan
from kiln_bench.plots import bar_chart
from kiln_bench.processes import Served, descendants, rollup_kib, status_kib
from kiln_bench.report import Section, Target, mebibytes, ratio

RSS_TARGET = 1.1
PSS_TARGET = 1.3
KIB = 1024

PEAK_RSS_CODE = """
import sys, torch
if len(sys.argv) > 1:
    state = torch.load(sys.argv[1], weights_only=True, mmap=False)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) * 1024)
"""


def server_peak(model_dir: Path, *args: str) -> dict[str, int]:
    with Served.kiln(model_dir, *args) as server:
        server.wait_status("/readyz", 200)
        pid = server.process.pid
        return {
            "peak": status_kib(pid, "VmHWM") * KIB,
            "anon": status_kib(pid, "RssAnon") * KIB,
            "file": status_kib(pid, "RssFile") * KIB,
        }


def torch_load_peak(checkpoint: Path | None) -> int:
    command = [sys.executable, "-c", PEAK_RSS_CODE]
    if checkpoint is not None:
        command.append(str(checkpoint))
    return int(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def weight_bytes(model_dir: Path) -> int:
    return sum(path.stat().st_size for path in model_dir.glob("*.safetensors"))


def measure_peak(plan: Plan, models: dict[str, Path]) -> Section:
    server_runtime = server_peak(synthetic_model(plan.cache_dir, 0))["peak"]
    torch_runtime = torch_load_peak(None)
    rows = []
    data: dict[str, object] = {"server_runtime": server_runtime, "torch_runtime": torch_runtime}
    section = Section(
        "Peak memory during load",
        "Peak resident set (`VmHWM`) of one server process from spawn to ready, against the "
        "weight bytes, next to `torch.load(weights_only=True)` of the same tensors. Each "
        "side's budget is the weight bytes plus its own runtime: the server's high-water mark "
        f"with a model of a few KiB ({mebibytes(server_runtime)}), and `import torch` alone "
        f"({mebibytes(torch_runtime)}). `RssFile` counts the mapped weight pages the process "
        "touched; the generated KilnSynthetic filler tensors are mapped but never read, so "
        "they stay in the page cache without entering the server's RSS. The BERT-shaped "
        "model's warm-up reads every weight, so its row is the honest worst case.",
        data=data,
    )
    for label, model_dir in models.items():
        weights = weight_bytes(model_dir)
        server = server_peak(model_dir)
        loaded = torch_load_peak(torch_checkpoint(model_dir, plan.cache_dir))
        server_ratio = ratio(server["peak"], weights + server_runtime)
        torch_ratio = ratio(loaded, weights + torch_runtime)
        rows.append([
            label, mebibytes(weights), mebibytes(server["peak"]), mebibytes(server["anon"]),
            mebibytes(server["file"]), f"{server_ratio:.2f}", mebibytes(loaded),
            f"{torch_ratio:.2f}",
        ])  # fmt: skip
        data[label] = {"weights": weights, "server": server, "torch_load": loaded}
        section.targets.append(
            Target(
                f"{label}: peak RSS during load",
                f"≤ {RSS_TARGET}x (weights + runtime)",
                f"{mebibytes(server['peak'])} = {server_ratio:.2f}x of "
                f"{mebibytes(weights + server_runtime)} (torch.load: {torch_ratio:.2f}x)",
                server_ratio <= RSS_TARGET,
                f"RssAnon {mebibytes(server['anon'])}, RssFile {mebibytes(server['file'])}",
            )
        )
    section.add_table(
        ["model", "weights", "server peak", "server RssAnon", "server RssFile",
         "server / (weights + runtime)", "torch.load peak", "torch.load / (weights + runtime)"],
        rows,
    )  # fmt: skip
    labels = list(models)
    section.figures.append(
        bar_chart(
            plan.figures_dir / "peak-rss.png",
            title="Peak RSS during load (MiB)",
            labels=labels,
            series={
                "weights": [data[m]["weights"] / 2**20 for m in labels],  # type: ignore[index]
                "kiln serve": [data[m]["server"]["peak"] / 2**20 for m in labels],  # type: ignore[index]
                "torch.load": [data[m]["torch_load"] / 2**20 for m in labels],  # type: ignore[index]
            },
            ylabel="MiB",
        )
    )
    return section


def total_pss(model_dir: Path, workers: int) -> dict[str, int]:
    """Return PSS, Pss_Anon and Pss_File in bytes summed over the server's processes."""
    with Served.kiln(model_dir, "--workers", str(workers)) as server:
        server.wait_log(" after process start", count=workers)
        pids = descendants(server.process.pid)
        totals = {"Pss": 0, "Pss_Anon": 0, "Pss_File": 0, "processes": len(pids)}
        for pid in pids:
            try:
                rollup = rollup_kib(pid)
            except OSError:
                continue
            for field in ("Pss", "Pss_Anon", "Pss_File"):
                totals[field] += rollup.get(field, 0) * KIB
        return totals


def measure_pss(plan: Plan, models: dict[str, Path]) -> Section:
    workers = plan.pss_workers
    section = Section(
        "Weights shared across workers",
        f"Summed PSS over every process of `kiln serve --workers {workers}` (supervisor and "
        "workers, from `/proc/PID/smaps_rollup`) against `--workers 1`, once every worker "
        "has logged ready. Each worker maps the weights `MAP_PRIVATE` from the page cache, "
        "so the weight pages are counted once across workers. Pages of files that other "
        "processes on the machine also map (torch's libraries, for one) are split with them "
        "too, which lowers `Pss_File` on a busy machine.",
    )
    rows = []
    for label, model_dir in models.items():
        single = total_pss(model_dir, 1)
        several = total_pss(model_dir, workers)
        one, many = single["Pss"], several["Pss"]
        measured = ratio(many, one)
        extra_anon = (several["Pss_Anon"] - single["Pss_Anon"]) / (workers - 1)
        rows.append([
            label, mebibytes(weight_bytes(model_dir)), mebibytes(one), mebibytes(many),
            several["processes"], f"{measured:.2f}", mebibytes(single["Pss_Anon"]),
            mebibytes(several["Pss_Anon"]), mebibytes(single["Pss_File"]),
            mebibytes(several["Pss_File"]),
        ])  # fmt: skip
        section.data[label] = {"one": single, "many": several}
        why = (
            f"each extra worker adds {mebibytes(extra_anon)} of private anonymous memory "
            "(its own interpreter, torch's import-time allocations, tokenizer and buffers); "
            f"the shared file pages grow only from {mebibytes(single['Pss_File'])} to "
            f"{mebibytes(several['Pss_File'])}"
        )
        section.targets.append(
            Target(
                f"{label}: PSS of {workers} workers vs 1",
                f"≤ {PSS_TARGET}x",
                f"{mebibytes(many)} vs {mebibytes(one)} = {measured:.2f}x",
                measured <= PSS_TARGET,
                why,
            )
        )
    section.add_table(
        [
            "model",
            "weights",
            "PSS, 1 worker",
            f"PSS, {workers} workers",
            "processes",
            "ratio",
            "Pss_Anon, 1",
            f"Pss_Anon, {workers}",
            "Pss_File, 1",
            f"Pss_File, {workers}",
        ],
        rows,
    )
    return section
