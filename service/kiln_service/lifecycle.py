"""The server's life as a state machine, the single source of truth for the probes.

    loading -> warming -> ready -> draining -> stopped
       \\---------\\--------------------> failed

Liveness checks only that the event loop responds, so it is true in every state but a dead
process. Readiness is true only in `ready` and only while every extra readiness check (a
job store, an external backend) passes: `ready` means the weights are resident and a
warm-up forward pass has run, so the first routed request is as fast as the rest. Startup
is complete once the server has been ready at least once. A SIGTERM moves the server to
`draining` at once, which turns readiness false before anything else happens.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kiln_service.weights.loader import LoadProgress

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], str | None]


class Phase(enum.StrEnum):
    LOADING = "loading"
    WARMING = "warming"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass
class Lifecycle:
    phase: Phase = Phase.LOADING
    progress: LoadProgress = field(default_factory=LoadProgress)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = 0
    exit_requested: bool = False
    started_once: bool = False
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    _marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> float:
        """Record a milestone and return seconds since the process started."""
        now = time.monotonic()
        self._marks[name] = now
        self.timings[name] = round(now - PROCESS_START, 3)
        return self.timings[name]

    def since(self, name: str) -> float:
        return time.monotonic() - self._marks.get(name, time.monotonic())

    def enter(self, phase: Phase) -> None:
        """Move forward through loading, warming and ready; never out of a final phase."""
        if self.phase in (Phase.DRAINING, Phase.FAILED, Phase.STOPPED):
            return
        if phase is Phase.READY and self.phase is not Phase.WARMING:
            return
        logger.debug("phase %s -> %s", self.phase, phase)
        self.phase = phase
        if phase is Phase.READY:
            self.started_once = True

    def fail(self, message: str, exit_code: int = 1) -> None:
        self.phase = Phase.FAILED
        self.error = message
        self.exit_code = exit_code
        self.exit_requested = True

    def begin_drain(self) -> Phase:
        """Turn readiness false at once; return the phase the server was in."""
        previous = self.phase
        if previous not in (Phase.FAILED, Phase.STOPPED, Phase.DRAINING):
            self.phase = Phase.DRAINING
            self.mark("drain_started")
        return previous

    @property
    def serving(self) -> bool:
        """True while inference requests are served: ready, or draining a loaded model."""
        return self.phase is Phase.READY or (self.phase is Phase.DRAINING and self.started_once)

    def failing_checks(self) -> dict[str, str]:
        failures: dict[str, str] = {}
        for name, check in self.readiness_checks.items():
            reason = check()
            if reason is not None:
                failures[name] = reason
        return failures

    def readiness(self) -> tuple[bool, dict[str, object]]:
        failures = self.failing_checks() if self.phase is Phase.READY else {}
        ready = self.phase is Phase.READY and not failures
        body: dict[str, object] = {
            "ready": ready,
            "state": self.phase.value,
            "progress": self.progress.as_dict(),
            "timings": dict(self.timings),
        }
        if failures:
            body["checks"] = failures
        if self.error:
            body["error"] = self.error
        return ready, body


def _seconds_since_process_start() -> float:
    """Seconds since the kernel started this process, so interpreter start-up counts too."""
    try:
        with open(f"/proc/{os.getpid()}/stat") as stat:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            uptime_seconds = float(uptime.read().split()[0])
        return uptime_seconds - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.process_time()


# The monotonic clock's reading when the kernel started this process; read once, because
# /proc's clock has a resolution of 10 ms.
PROCESS_START = time.monotonic() - _seconds_since_process_start()
