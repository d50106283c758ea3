"""Shutdown under steady load: requests lost across a SIGTERM, and time from SIGTERM to exit.

The load generator plays the cluster's part: it polls `/readyz` every 50 ms and stops
sending new requests a short propagation delay after readiness turns false, the way
endpoint controllers stop routing to a pod that reports unready. `kiln serve` runs with a
drain delay longer than that propagation delay, as the operator configures it. A second
run sends blindly through the signal with no drain delay, to show what the drain delay
buys: requests sent after the listener closed are refused before any server accepted them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from kiln_bench.loadgen import LoadConfig
from kiln_bench.plan import Plan
from kiln_bench.processes import HOST, Served
from kiln_bench.report import Section, Target, seconds
from kiln_bench.throughput import bodies

DRAIN_DELAY = 1.0
PROPAGATION = 0.3


def run_case(plan: Plan, *, drain_delay: float, watch_readiness: bool) -> dict[str, Any]:
    with Served.kiln(plan.minilm_dir, "--drain-delay", str(drain_delay)) as server:
        server.wait_status("/readyz", 200)
        config = LoadConfig(
            host=HOST, port=server.port, path="/v1/embeddings", bodies=bodies(),
            concurrency=plan.shutdown_clients,
            duration=60.0 if watch_readiness else plan.shutdown_after + 3.0, warmup=0.0,
            stop_when_unready="/readyz" if watch_readiness else None,
            unready_grace=PROPAGATION,
        )  # fmt: skip
        client = subprocess.Popen(
            [sys.executable, "-m", "kiln_bench.loadgen", json.dumps(config.__dict__)],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(plan.shutdown_after)
        to_exit = server.terminate(timeout=120)
        code = server.process.returncode
        output, _ = client.communicate(timeout=120)
        exit_line = next((line for line in server.log().splitlines() if " exit " in f" {line}"), "")
    result = json.loads(output)
    statuses: dict[str, int] = result["statuses"]
    errors: dict[str, int] = result["errors"]
    refused = errors.pop("ConnectionRefusedError", 0)
    failed = sum(n for status, n in statuses.items() if status != "200") + sum(errors.values())
    return {
        "ok": statuses.get("200", 0),
        "failed": failed,
        "statuses": statuses,
        "errors": errors,
        "refused": refused,
        "to_exit": to_exit,
        "exit_code": code,
        "exit_line": exit_line.split("exit", 1)[-1].strip(),
    }


def measure(plan: Plan) -> Section:
    drain_delay = DRAIN_DELAY if not plan.smoke else 0.5
    watched = run_case(plan, drain_delay=drain_delay, watch_readiness=True)
    blind = run_case(plan, drain_delay=0.0, watch_readiness=False)
    section = Section(
        "Shutdown under load",
        f"{plan.shutdown_clients} clients send one-sentence requests back to back to a MiniLM "
        f"server; SIGTERM arrives after {plan.shutdown_after:g} s. *Routed by readiness*: "
        f"the server has `--drain-delay {drain_delay:g}`, and the clients stop sending "
        f"{PROPAGATION:g} s after `/readyz` first fails (polled every 50 ms), like endpoints "
        "catching up. *Blind*: no drain delay and clients that never look at readiness. "
        "*Failed* counts requests that were sent on an open connection and did not get 200; "
        "*refused* counts connection attempts after the listener closed, which no server "
        "accepted.",
        data={"routed": watched, "blind": blind},
    )
    rows = []
    for label, case in (("routed by readiness", watched), ("blind", blind)):
        rows.append([
            label, case["ok"], case["failed"], case["refused"],
            json.dumps(case["statuses"]), json.dumps(case["errors"]) if case["errors"] else "-",
            seconds(case["to_exit"]), case["exit_code"], case["exit_line"],
        ])  # fmt: skip
    section.add_table(
        ["case", "200", "failed", "refused", "statuses", "errors", "SIGTERM to exit",
         "exit code", "server's exit line"],
        rows,
    )  # fmt: skip
    section.targets.append(
        Target(
            "failed requests across SIGTERM (routed by readiness)",
            "0",
            f"{watched['failed']} of {watched['ok'] + watched['failed']}; exit "
            f"{seconds(watched['to_exit'])} after SIGTERM (drain delay {drain_delay:g} s)",
            watched["failed"] == 0,
            f"statuses {json.dumps(watched['statuses'])}, errors {json.dumps(watched['errors'])}",
        )
    )
    return section
