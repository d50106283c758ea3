"""CPU accounting: what the server used, and how busy the machine was with other work.

The benchmark machine is shared, so every load run records the CPU time spent by processes
outside the benchmark (all busy time in /proc/stat minus the server's and the client's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kiln_bench.processes import descendants

TICKS = os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """Return the machine's busy CPU seconds since boot, over all cores (excluding guest)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def tree_cpu_seconds(pid: int) -> float:
    """Return the CPU seconds used by `pid` and its live descendants."""
    total = 0.0
    for member in descendants(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


@dataclass
class CpuWindow:
    """CPU used during one measurement, split into the server, the client and the rest."""

    server_pid: int | None
    busy_before: float = 0.0
    server_before: float = 0.0
    busy: float = 0.0
    server: float = 0.0

    def __enter__(self) -> CpuWindow:
        self.busy_before = busy_seconds()
        if self.server_pid is not None:
            self.server_before = tree_cpu_seconds(self.server_pid)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.busy = busy_seconds() - self.busy_before
        if self.server_pid is not None:
            self.server = tree_cpu_seconds(self.server_pid) - self.server_before

    def other(self, client: float) -> float:
        return max(0.0, self.busy - self.server - client)
