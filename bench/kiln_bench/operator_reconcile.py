"""Operator: time from ModelService creation to its Deployment written, and API calls.

Runs the real operator (kopf, in a thread) against the project's Kubernetes API emulator
(kmock, served on 127.0.0.1 by the test harness in `tests/emulator`). Each object count
gets a fresh emulator and operator. The benchmark creates that many ModelServices back to
back and notes when each Deployment appears in the emulator's store, checked every 10 ms
inside the emulator's event loop. Once the operator has been idle for a second, it counts
the operator's requests in the emulator's request log.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kiln_bench.plan import Plan
from kiln_bench.plots import line_chart
from kiln_bench.report import Section, percentile

NAMESPACE = "kiln-bench"
TESTS = Path(__file__).resolve().parents[2] / "tests"
SPEC = {"image": "kiln-server:1", "model": {"size": "1Gi"}}
IDLE_SECONDS = 1.0


def _emulator_modules() -> Any:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from emulator import fixtures, operator_thread
    from emulator.client import KubeRest, resource_path

    return fixtures, operator_thread, KubeRest, resource_path


def run_count(count: int, folder: Path) -> dict[str, Any]:
    fixtures, operator_thread, kube_rest, resource_path = _emulator_modules()
    emulator = fixtures.start_emulator(validate=False)
    try:
        config = emulator.write_kubeconfig(folder / "operator.kubeconfig", fixtures.OPERATOR_TOKEN)
        api = kube_rest(emulator.url, fixtures.ADMIN_TOKEN)
        operator = operator_thread.OperatorThread(config).start()
        try:
            return _measure(emulator, api, resource_path, fixtures.OPERATOR_USER, count)
        finally:
            operator.stop()
    finally:
        emulator.stop()


def _deployments(emulator: Any) -> set[str]:
    def read() -> set[str]:
        return {key[2] for key in emulator.emulator.objects
                if key[0].plural == "deployments" and key[1] == NAMESPACE}  # fmt: skip

    return set(emulator.call(read))


def _measure(emulator: Any, api: Any, resource_path: Any, user: str, count: int) -> dict[str, Any]:
    _wait_idle(emulator, user, time.monotonic() + 30)
    baseline = len(emulator.requests(user=user))
    path = resource_path("kiln.dev", "v1alpha1", "modelservices", NAMESPACE)
    created: dict[str, float] = {}
    seen: dict[str, float] = {}
    create_seconds: list[float] = []
    started = time.monotonic()
    for index in range(count):
        name = f"model-{index:03d}"
        sent = time.monotonic()
        api.create(path, {"apiVersion": "kiln.dev/v1alpha1", "kind": "ModelService",
                          "metadata": {"name": name}, "spec": SPEC})  # fmt: skip
        created[name] = time.monotonic()
        create_seconds.append(created[name] - sent)
        _note(emulator, created, seen)
    deadline = time.monotonic() + 60 + count
    while len(seen) < count and time.monotonic() < deadline:
        time.sleep(0.01)
        _note(emulator, created, seen)
    all_written = time.monotonic() - started

    _wait_idle(emulator, user, deadline)
    requests = emulator.requests(user=user)[baseline:]
    kinds = Counter(f"{r.verb} {r.resource}{'/' + r.subresource if r.subresource else ''}"
                    for r in requests)  # fmt: skip
    delays = [seen[name] - created[name] for name in seen]
    return {
        "count": count,
        "written": len(seen),
        "all_written_seconds": all_written,
        "create_p50": statistics.median(create_seconds),
        "p50": statistics.median(delays) if delays else float("nan"),
        "p90": percentile(delays, 0.9),
        "max": max(delays, default=float("nan")),
        "requests": len(requests),
        "per_object": len(requests) / count,
        "kinds": dict(kinds.most_common()),
    }


def _wait_idle(emulator: Any, user: str, deadline: float) -> None:
    """Return once the operator has sent no request for IDLE_SECONDS, or at `deadline`."""
    idle_since, last = time.monotonic(), len(emulator.requests(user=user))
    while time.monotonic() - idle_since < IDLE_SECONDS and time.monotonic() < deadline:
        time.sleep(0.1)
        now = len(emulator.requests(user=user))
        if now != last:
            idle_since, last = time.monotonic(), now


def _note(emulator: Any, created: dict[str, float], seen: dict[str, float]) -> None:
    now = time.monotonic()
    for name in _deployments(emulator):
        if name in created and name not in seen:
            seen[name] = now


def measure(plan: Plan) -> Section:
    section = Section(
        "Operator reconcile",
        "The real operator (kopf, in a thread) against the project's Kubernetes API "
        "emulator on 127.0.0.1, started fresh for each object count, with the emulator's "
        "schema validation of built-in objects off (it costs about half a second per "
        "object, which is the emulator's cost, not the operator's). The benchmark creates "
        "the ModelServices back to back and notes when each Deployment appears in the "
        "emulator's store (checked every 10 ms). The floor is the benchmark's own create "
        "request per ModelService against the same emulator. *API calls* are the operator's "
        "requests from the first create until it has been idle for a second, from the "
        "emulator's request log. The operator, the emulator and the benchmark share one "
        "Python process, so every object count also measures their contention for one GIL.",
    )
    try:
        _emulator_modules()
    except ImportError as error:
        section.add_text(
            f"Not measured: the emulator or the operator cannot be imported ({error})."
        )
        return section

    results = []
    with tempfile.TemporaryDirectory(prefix="kiln-bench-operator-") as folder:
        for count in plan.operator_counts:
            results.append(run_count(count, Path(folder)))
    section.add_table(
        ["ModelServices", "Deployments written", "all written after", "create to Deployment p50",
         "p90", "max", "floor: create request p50", "operator API calls", "calls per object"],
        [[r["count"], r["written"], f"{r['all_written_seconds']:.2f} s", f"{r['p50'] * 1e3:.0f} ms",
          f"{r['p90'] * 1e3:.0f} ms", f"{r['max'] * 1e3:.0f} ms",
          f"{r['create_p50'] * 1e3:.0f} ms", r["requests"],
          f"{r['per_object']:.1f}"] for r in results],
    )  # fmt: skip
    largest = results[-1]
    section.add_text(
        f"Calls for {largest['count']} objects by verb and resource: "
        + ", ".join(f"{kind} {n}" for kind, n in largest["kinds"].items())
        + "."
    )
    section.data["runs"] = results
    if len(results) > 1:
        section.figures.append(
            line_chart(
                plan.figures_dir / "operator.png",
                title="Operator: create to Deployment written",
                x=[r["count"] for r in results],
                series={
                    "p50 (s)": [r["p50"] for r in results],
                    "max (s)": [r["max"] for r in results],
                },  # fmt: skip
                xlabel="ModelServices created at once",
                ylabel="seconds",
            )
        )
    return section
