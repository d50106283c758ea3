"""The throughput section: the four peers at every concurrency, and the two targets.

The in-process peer is measured before and after the server runs and twice each time: with
the defaults, and with `OMP_WAIT_POLICY=PASSIVE` (the policy `kiln serve` sets for itself).
The targets use the faster of the two, so kiln is compared with the strongest in-process
configuration, not with a handicapped one.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kiln_bench.plan import Plan
from kiln_bench.plots import line_chart
from kiln_bench.processes import Served
from kiln_bench.report import Section, Target, ratio
from kiln_bench.throughput import (
    LoadPoint,
    in_process,
    naive_cold_burst,
    naive_server,
    sweep,
)

BATCHED_TARGET = 0.8
LATENCY_TARGET = 1.1
BATCH = 32


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


def in_process_rates(model_dir: Path, seconds: float) -> dict[str, float]:
    rates = {}
    for label, policy in (("defaults", None), ("OMP_WAIT_POLICY=PASSIVE", "PASSIVE")):
        with omp_policy(policy):
            by_size = in_process(model_dir, seconds, (BATCH, 1))
        for size, rate in by_size.items():
            rates[f"batch {size}, {label}"] = rate
    return rates


def measure(plan: Plan) -> Section:
    model_dir = plan.minilm_dir
    seconds, warmup = plan.load_seconds, plan.warmup_seconds
    before = in_process_rates(model_dir, seconds)

    peers: dict[str, list[LoadPoint]] = {}
    with naive_server(model_dir) as server:
        server.wait_status("/loads", 200)
        burst = naive_cold_burst(server, plan.burst_clients)
        peers["naive FastAPI + sentence-transformers"] = sweep(
            server, plan.concurrencies, seconds, warmup
        )
    with (
        Served.kiln(model_dir, "--max-batch-size", "1") as unbatched,
        Served.kiln(model_dir) as batched,
    ):
        unbatched.wait_status("/readyz", 200)
        batched.wait_status("/readyz", 200)
        peers["kiln unbatched (--max-batch-size 1)"] = sweep(
            unbatched, plan.concurrencies, seconds, warmup
        )
        peers["kiln batched (default)"] = sweep(batched, plan.concurrencies, seconds, warmup)
        paired = paired_single_client(plan, {"batched": batched, "unbatched": unbatched})

    after = in_process_rates(model_dir, seconds) if plan.in_process_rounds > 1 else before
    in_process_mean = {label: statistics.mean([before[label], after[label]]) for label in before}
    section = _section(plan, peers, before, after, in_process_mean, burst)
    add_latency_target(section, paired)
    return section


def paired_single_client(plan: Plan, servers: dict[str, Served]) -> dict[str, list[float]]:
    """Alternate one-client runs between the batched and the unbatched server, both idle
    otherwise, so background load hits both sides alike; return each side's p50 samples."""
    samples: dict[str, list[float]] = {name: [] for name in servers}
    for round_index in range(plan.paired_rounds):
        order = list(servers) if round_index % 2 == 0 else list(reversed(servers))
        for name in order:
            point = sweep(servers[name], (1,), plan.load_seconds / 2, plan.warmup_seconds)[0]
            samples[name].append(point.p50)
    return samples


def _section(
    plan: Plan,
    peers: dict[str, list[LoadPoint]],
    before: dict[str, float],
    after: dict[str, float],
    in_process_mean: dict[str, float],
    burst: dict[str, float],
) -> Section:
    section = Section(
        "Throughput and latency",
        "One-sentence `POST /v1/embeddings` requests from the load generator at each "
        f"concurrency, {plan.load_seconds:g} s measured after {plan.warmup_seconds:g} s of "
        "warm-up, every server on 127.0.0.1 serving MiniLM. *client CPU/request* is the load "
        "generator's own CPU time per request; *other CPU* is the share of the machine's busy "
        "time spent by processes outside the benchmark during the run.",
    )
    rows = []
    for name, points in peers.items():
        for point in points:
            rows.append([
                name, point.concurrency, f"{point.per_second:.1f}", _ms(point.p50),
                _ms(point.p90), _ms(point.p99), point.failures,
                f"{point.client_cpu_per_request * 1e3:.2f} ms",
                f"{point.server_cpu_share:.0%}", f"{point.other_cpu_share:.0%}",
            ])  # fmt: skip
    section.add_table(
        ["server", "clients", "requests/s", "p50", "p90", "p99", "failed",
         "client CPU/request", "server CPU", "other CPU"],
        rows,
    )  # fmt: skip
    section.add_table(
        ["in-process sentence-transformers", "before servers", "after servers", "mean"],
        [[label, f"{before[label]:.1f}/s", f"{after[label]:.1f}/s",
          f"{in_process_mean[label]:.1f}/s"] for label in before],
    )  # fmt: skip
    section.add_text(
        f"Naive server, first requests: {plan.burst_clients} clients sent their first "
        f"request to a freshly started naive server; the first answer took "
        f"{burst['first_latency']:.2f} s, and the handler loaded the model "
        f"{burst['loads']:.0f} times (each thread that found no model loaded its own copy)."
    )

    ceiling_label = max(
        (label for label in in_process_mean if label.startswith(f"batch {BATCH}")),
        key=lambda label: in_process_mean[label],
    )
    ceiling = in_process_mean[ceiling_label]
    target_clients = 32 if 32 in plan.concurrencies else max(plan.concurrencies)
    batched = peers["kiln batched (default)"]
    at_target = next(point for point in batched if point.concurrency == target_clients)
    measured = ratio(at_target.per_second, ceiling)
    section.targets.append(
        Target(
            f"{target_clients} one-sentence clients vs in-process batch {BATCH}",
            f"≥ {BATCHED_TARGET}x",
            f"{at_target.per_second:.1f}/s vs {ceiling:.1f}/s ({ceiling_label}) = {measured:.2f}x",
            measured >= BATCHED_TARGET,
            f"during that run the server used {at_target.server_cpu_share:.0%} of the busy "
            f"CPU time and other processes on the machine {at_target.other_cpu_share:.0%}; "
            "each request also pays HTTP parsing, validation and JSON encoding on the cores "
            "that the forward pass needs",
        )
    )
    section.data.update(
        peers={name: [point.__dict__ for point in points] for name, points in peers.items()},
        in_process={"before": before, "after": after, "mean": in_process_mean},
        naive_burst=burst,
    )
    section.figures += _plots(plan, peers, in_process_mean)
    return section


def add_latency_target(section: Section, samples: dict[str, list[float]]) -> None:
    batched = statistics.median(samples["batched"])
    unbatched = statistics.median(samples["unbatched"])
    measured = ratio(batched, unbatched)
    section.add_text(
        "Single-client latency, paired: both servers up, one-client runs alternating between "
        f"them {len(samples['batched'])} times each. p50 per run, batched: "
        + ", ".join(_ms(value) for value in samples["batched"])
        + "; unbatched: "
        + ", ".join(_ms(value) for value in samples["unbatched"])
        + "."
    )
    section.targets.append(
        Target(
            "single-client latency, batched vs unbatched server",
            f"≤ {LATENCY_TARGET}x",
            f"p50 {_ms(batched)} vs {_ms(unbatched)} = {measured:.2f}x (median of paired runs)",
            measured <= LATENCY_TARGET,
            "the p50 of single runs varied from "
            f"{_ms(min(samples['batched']))} to {_ms(max(samples['batched']))} (batched) and "
            f"{_ms(min(samples['unbatched']))} to {_ms(max(samples['unbatched']))} "
            "(unbatched) under the machine's background load",
        )
    )
    section.data["paired_single_client"] = samples


def _plots(
    plan: Plan, peers: dict[str, list[LoadPoint]], in_process_mean: dict[str, float]
) -> list[Path]:
    x = list(plan.concurrencies)
    flat = {f"in-process {label}": value for label, value in in_process_mean.items()
            if label.startswith(f"batch {BATCH}")}  # fmt: skip
    throughput = line_chart(
        plan.figures_dir / "throughput.png",
        title="Requests per second vs concurrent clients (MiniLM, one sentence each)",
        x=x,
        series={name: [p.per_second for p in points] for name, points in peers.items()},
        xlabel="concurrent clients",
        ylabel="requests/s",
        flat=flat,
    )
    series = {}
    for name, points in peers.items():
        short = name.split(" (")[0]
        series[f"{short} p50"] = [p.p50 * 1e3 for p in points]
        series[f"{short} p99"] = [p.p99 * 1e3 for p in points]
    latency = line_chart(
        plan.figures_dir / "latency.png",
        title="Latency percentiles vs concurrent clients",
        x=x,
        series=series,
        xlabel="concurrent clients",
        ylabel="ms (log scale)",
        log_y=True,
    )
    return [throughput, latency]


def _ms(value: float) -> str:
    return f"{value * 1e3:.1f} ms"
