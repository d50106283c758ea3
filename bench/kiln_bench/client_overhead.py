"""The load generator's own cost, measured against the cheapest endpoint there is.

Every throughput row already reports the client's CPU time per request. This section adds
the ceiling of the HTTP stack itself: the same client against `GET /livez` of an idle
MiniLM server, where the server does no model work at all.
"""

from __future__ import annotations

from kiln_bench.loadgen import LoadConfig
from kiln_bench.plan import Plan
from kiln_bench.processes import HOST, Served
from kiln_bench.report import Section
from kiln_bench.throughput import LoadPoint, run_load

CLIENTS = 8


def measure(plan: Plan) -> Section:
    with Served.kiln(plan.minilm_dir) as server:
        server.wait_status("/readyz", 200)
        config = LoadConfig(
            host=HOST, port=server.port, path="/livez", bodies=[""], method="GET",
            concurrency=CLIENTS, duration=plan.load_seconds / 2, warmup=plan.warmup_seconds,
        )  # fmt: skip
        result, cpu = run_load(server.process.pid, config)
    point = LoadPoint.from_result(CLIENTS, result, cpu)
    section = Section(
        "Load generator",
        "The load generator is `kiln_bench.loadgen`: one process, one asyncio event loop "
        "(uvloop when installed), one keep-alive HTTP/1.1 connection per simulated client, "
        "each a bare `asyncio.Protocol` that writes a pre-encoded request and parses only "
        "the status line and `Content-Length`. It was chosen over wrk because it needs "
        "nothing outside the project's Python environment, and over httpx or aiohttp "
        "because those spend several times more CPU per request, CPU that the server under "
        "test would lose on this two-core machine. Its overhead, against `GET /livez` "
        f"(no model work) with {CLIENTS} clients:",
        data={"livez": point.__dict__},
    )
    section.add_table(
        ["endpoint", "clients", "requests/s", "p50", "p99", "client CPU/request",
         "client CPU share", "server CPU share"],
        [["GET /livez", CLIENTS, f"{point.per_second:.0f}", f"{point.p50 * 1e3:.2f} ms",
          f"{point.p99 * 1e3:.2f} ms", f"{point.client_cpu_per_request * 1e6:.0f} µs",
          f"{point.client_cpu_share:.0%}", f"{point.server_cpu_share:.0%}"]],
    )  # fmt: skip
    return section
