"""Requests sent from background threads, for holding work in flight during a signal."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Outcome:
    status: int | None
    error: str | None
    seconds: float


@dataclass
class InFlight:
    """One POST per thread; `outcomes` fills as they finish."""

    url: str
    body: object
    count: int
    timeout: float = 60.0
    outcomes: list[Outcome] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> InFlight:
        for _ in range(self.count):
            thread = threading.Thread(target=self._send, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _send(self) -> None:
        started = time.monotonic()
        try:
            response = httpx.post(self.url, json=self.body, timeout=self.timeout)
            outcome = Outcome(response.status_code, None, time.monotonic() - started)
        except httpx.HTTPError as error:
            outcome = Outcome(None, repr(error), time.monotonic() - started)
        self.outcomes.append(outcome)

    def join(self, timeout: float = 60.0) -> list[Outcome]:
        for thread in self._threads:
            thread.join(timeout)
        return self.outcomes


def wait_for_metric(metrics_url: str, name: str, value: float, timeout: float = 10.0) -> None:
    """Poll a Prometheus endpoint until the unlabelled sample `name` reaches `value`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in httpx.get(metrics_url, timeout=2).text.splitlines():
            if line.startswith(name + " ") and float(line.split()[1]) >= value:
                return
        time.sleep(0.02)
    raise AssertionError(f"{name} did not reach {value} within {timeout} s")
