"""A probe runner with the kubelet's semantics, for asserting what Kubernetes would see.

Each probe waits `initial_delay`, then sends an HTTP GET every `period` seconds with a
`timeout`. A response with a status from 200 to 399 within the timeout is a success; an
error, a timeout or another status is a failure. After `failure_threshold` consecutive
failures the kubelet acts: it restarts the container (liveness, startup) or removes the
pod from the endpoints (readiness).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Result:
    sent_at: float
    seconds: float
    status: int | None
    body: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


@dataclass
class Probe:
    url: str
    period: float = 0.1
    timeout: float = 1.0
    initial_delay: float = 0.0
    failure_threshold: int = 3
    results: list[Result] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Probe:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Result]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.results

    def _run(self) -> None:
        if self._stop.wait(self.initial_delay):
            return
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                self.results.append(self._probe(client, sent))
                self._stop.wait(max(0.0, self.period - (time.monotonic() - sent)))

    def _probe(self, client: httpx.Client, sent: float) -> Result:
        try:
            response = client.get(self.url, headers={"Connection": "close"})
            return Result(sent, time.monotonic() - sent, response.status_code, response.text, None)
        except httpx.HTTPError as error:
            return Result(sent, time.monotonic() - sent, None, "", f"{type(error).__name__}")

    def longest_failure_streak(self, *, until: float | None = None) -> int:
        streak = longest = 0
        for result in self.results:
            if until is not None and result.sent_at >= until:
                break
            streak = 0 if result.ok else streak + 1
            longest = max(longest, streak)
        return longest

    def would_act(self, *, until: float | None = None) -> bool:
        """True if the kubelet would have restarted the pod or marked it unready."""
        return self.longest_failure_streak(until=until) >= self.failure_threshold

    def first_success(self) -> Result | None:
        return next((r for r in self.results if r.ok), None)
