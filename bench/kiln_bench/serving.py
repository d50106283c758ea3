"""The throughput section: the four peers at every concurrency, and the two targets.

The in-process peer is measured before and after the server runs and twice each time: with
the defaults, and with `OMP_WAIT_POLICY=PASSIVE` (the policy `kiln serve` sets for itself).
The targets use the faster of the two, so kiln is compared with the strongest in-process
configuration, not with a handicapped one.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from kiln_bench import pairs
from kiln_bench.plan import Plan
from kiln_bench.plots import line_chart
from kiln_bench.processes import Served
from kiln_bench.report import Section
from kiln_bench.throughput import (
    BATCH,
    LoadPoint,
    in_process,
    naive_cold_burst,
    naive_server,
    omp_policy,
    sweep,
)


def in_process_rates(model_dir: Path, seconds: float) -> dict[str, float]:
    rates = {}
    for label, policy in (("defaults", None), ("OMP_WAIT_POLICY=PASSIVE", "PASSIVE")):
        with omp_policy(policy):
            by_size = in_process(model_dir, seconds, (BATCH, 1))
        for size, rate in by_size.items():
            rates[f"batch {size}, {label}"] = rate["per_second"]
    return rates


def measure(plan: Plan) -> Section:
    model_dir = plan.minilm_dir
    seconds, warmup = plan.load_seconds, plan.warmup_seconds
    clients = 32 if 32 in plan.concurrencies else max(plan.concurrencies)
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
        latency = pairs.paired_single_client(plan, {"batched": batched, "unbatched": unbatched})
        throughput = pairs.paired_throughput(plan, batched, clients)

    after = in_process_rates(model_dir, seconds) if plan.in_process_rounds > 1 else before
    in_process_mean = {label: statistics.mean([before[label], after[label]]) for label in before}
    section = _section(plan, peers, before, after, in_process_mean, burst)
    pairs.add_throughput_target(section, throughput, clients)
    pairs.add_latency_target(section, latency)
    return section


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

    section.data.update(
        peers={name: [point.__dict__ for point in points] for name, points in peers.items()},
        in_process={"before": before, "after": after, "mean": in_process_mean},
        naive_burst=burst,
    )
    section.figures += _plots(plan, peers, in_process_mean)
    return section


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
