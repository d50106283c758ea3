"""Run the kiln operator (kopf) against an emulator in a thread with its own event loop.

``kopf.operator()`` runs in its own thread with ``standalone=True`` and threading stop and
ready flags, which ends it without cancellation errors at test teardown. Its log records
are kept in ``records`` for assertions.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kiln_operator.config import OperatorConfig
from kiln_operator.runner import run_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RecordList(logging.Handler):
    """A logging handler that keeps every record."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class OperatorThread:
    """The operator, started against a kubeconfig and stopped by ``stop()``."""

    def __init__(self, kubeconfig: Path, *, namespaces: tuple[str, ...] = (),
                 retry_base_seconds: float = 0.2, retry_max_seconds: float = 2.0) -> None:
        self.liveness_url = f"http://127.0.0.1:{free_port()}/healthz"
        metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.config = OperatorConfig(
            namespaces=namespaces,
            all_namespaces=not namespaces,
            kubeconfig=str(kubeconfig),
            liveness_endpoint=self.liveness_url,
            retry_base_seconds=retry_base_seconds,
            retry_max_seconds=retry_max_seconds,
            conflict_retry_seconds=retry_max_seconds,
            watch_timeout_seconds=30,
            metrics_port=metrics_port,
            metrics_address="127.0.0.1",
        )
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._log = RecordList()
        self._thread = threading.Thread(target=self._run, name="kiln-operator", daemon=True)

    @property
    def records(self) -> list[logging.LogRecord]:
        return list(self._log.records)

    def _run(self) -> None:
        try:
            run_until(self.config, self._stop, self._ready)
        except BaseException as error:  # noqa: BLE001 - reported by start() and stop()
            self._failure = error
            self._ready.set()

    def start(self) -> OperatorThread:
        for name in ("kopf", "kiln_operator"):
            logger = logging.getLogger(name)
            logger.addHandler(self._log)
            logger.setLevel(logging.DEBUG)
        self._thread.start()
        if not self._ready.wait(timeout=60):
            raise RuntimeError("The operator did not become ready within 60 seconds.")
        if self._failure is not None:
            raise RuntimeError("The operator failed to start.") from self._failure
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        for name in ("kopf", "kiln_operator"):
            logging.getLogger(name).removeHandler(self._log)
        if self._thread.is_alive():
            raise RuntimeError("The operator did not stop within 60 seconds.")
        if self._failure is not None:
            raise RuntimeError("The operator stopped with an error.") from self._failure

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def wait_for(condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.05,
              message: str = "condition") -> object:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {message}.")
        time.sleep(interval)
