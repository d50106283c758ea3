"""uvicorn's server with the shutdown order Kubernetes needs.

On the first SIGTERM or SIGINT the server turns readiness false at once, keeps accepting and
serving for the drain delay (so endpoint lists and load balancers stop routing to it), then
closes the listener, waits up to the request timeout for in-flight requests, and runs the
lifespan's shutdown, which releases the model. A second signal exits at once.

uvicorn (0.29 and later) re-raises a captured signal after a graceful shutdown, which would
end the process with 143 instead of 0; this server handles the signals itself, so a
finished drain exits 0.

Several workers (`--workers`) run under `run_workers`, a supervisor of its own: uvicorn's
supervisor starts plain uvicorn servers, which would have neither this shutdown order nor
the app built inside each worker.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn

from kiln_service.lifecycle import Lifecycle, Phase
from kiln_service.settings import Settings

logger = logging.getLogger(__name__)

# A repeat of the first signal within this many seconds is the same request, delivered twice.
DUPLICATE_SIGNAL_SECONDS = 1.0


@dataclass
class WorkerSlot:
    """One worker's flag among the readiness flags that all workers of a server share.

    The kubelet's probe reaches one worker per connection, so every worker reports ready
    only while all of them are: otherwise a pod whose first worker is ready but whose
    second is still warming up would get traffic and reject part of it with 503.
    """

    flags: Any  # multiprocessing RawArray of bytes, one per worker, 1 while ready
    index: int

    def publish(self, ready: bool) -> None:
        self.flags[self.index] = int(ready)

    def others_not_ready(self) -> str | None:
        waiting = [n for n, flag in enumerate(self.flags) if not flag and n != self.index]
        if not waiting:
            return None
        return (
            f"{len(waiting)} of the other {len(self.flags) - 1} worker processes are not ready yet"
        )


class KilnServer(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, settings: Settings, worker: WorkerSlot | None = None
    ) -> None:
        super().__init__(config)
        self.settings = settings
        self.worker = worker
        self.lifecycle: Lifecycle | None = None
        self._exit_at: float | None = None
        self._first_signal: tuple[int, float] | None = None

    async def _serve(self, sockets: list[socket.socket] | None = None) -> None:
        # The app is built here, in the process that serves it: with several workers each
        # worker builds its own app and lifespan, and the supervisor never loads a model.
        from kiln_service.app import create_app
        from kiln_service.logs import configure_logging

        configure_logging(
            self.settings.log_format, self.settings.log_level, access_log=self.settings.access_log
        )
        self.lifecycle = Lifecycle()
        if threading.current_thread() is threading.main_thread():
            # Some supervisors and terminals send SIGHUP; it drains like SIGTERM instead
            # of killing the process without a word.
            signal.signal(signal.SIGHUP, self.handle_exit)
        if self.worker is not None:
            self.lifecycle.readiness_checks["workers"] = self.worker.others_not_ready
        self.config.app = create_app(self.settings, self.lifecycle)
        self.config.loaded = False
        await super()._serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        name = signal.Signals(sig).name
        lifecycle = self.lifecycle
        now = time.monotonic()
        first = self._first_signal
        if first is not None and first[0] == sig and now - first[1] < DUPLICATE_SIGNAL_SECONDS:
            # `kill` of a process group and a wrapper such as make that forwards the signal
            # deliver the same SIGTERM twice within milliseconds: that is one request.
            logger.info("%s received again within %.1f s: already draining", name, now - first[1])
            return
        if self._first_signal is None:
            self._first_signal = (sig, now)
        if self._exit_at is not None:
            logger.warning("second %s received: exiting now without draining", name)
            logging.shutdown()
            os._exit(1)
        if lifecycle is None:
            logger.info("%s received before the application was built: exiting", name)
            self._exit_at = time.monotonic()
            self.should_exit = True
            return

        previous = lifecycle.begin_drain()
        if previous in (Phase.LOADING, Phase.WARMING):
            # Stop reading weights now; the lifespan's shutdown cancels the rest.
            lifecycle.progress.cancel.set()
        delay = self.settings.drain_delay if previous is Phase.READY else 0.0
        self._exit_at = time.monotonic() + delay
        logger.info(
            "draining: %s received in phase %s; readiness now returns 503, serving %.1f s more "
            "before closing the listener",
            name,
            previous.value,
            delay,
        )

    async def on_tick(self, counter: int) -> bool:
        lifecycle = self.lifecycle
        if self.worker is not None and lifecycle is not None:
            self.worker.publish(lifecycle.phase is Phase.READY)
        if lifecycle is not None and lifecycle.exit_requested:
            self.should_exit = True
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        assert self.lifecycle is not None
        self.lifecycle.mark("stopped_accepting")
        logger.info(
            "stopped accepting: %d connections open, waiting up to %g s for in-flight requests",
            len(self.server_state.connections),
            self.config.timeout_graceful_shutdown or 0,
        )
        await super().shutdown(sockets)

    async def _wait_tasks_to_complete(self) -> None:
        await super()._wait_tasks_to_complete()
        assert self.lifecycle is not None
        self.lifecycle.mark("inflight_drained")
        logger.info("in-flight drained in %.2f s", self.lifecycle.since("stopped_accepting"))


def run_server(settings: Settings) -> int:
    """Serve until a signal or a failed load; return the process exit code."""
    if settings.workers > 1:
        return run_workers(settings)
    server = KilnServer(_uvicorn_config(settings), settings)
    try:
        server.run()
    except SystemExit as error:
        # uvicorn exits this way when it cannot listen, for example on a port in use.
        if server.started:
            raise
        code = error.code if isinstance(error.code, int) else 1
        logger.error(
            "exit %d: the server could not listen on %s:%d; the log above has the reason. "
            "Choose a free --port (KILN_PORT) or another --host (KILN_HOST).",
            code,
            settings.host,
            settings.port,
        )
        return code
    return _exit_code(server)


def _uvicorn_config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app="kiln_service.app:create_app",
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=int(max(1, round(settings.request_timeout))),
        lifespan="on",
        server_header=False,
    )


def run_workers(settings: Settings) -> int:
    """Serve from several worker processes that share one listening socket.

    Each worker is a whole server with its own lifespan, model and probes. The supervisor
    forwards SIGTERM and SIGINT to every worker as SIGTERM, so each one drains as a single
    server does, and a second signal makes them exit at once. A worker that exits on its
    own stops the others, and the supervisor exits non-zero so that Kubernetes restarts
    the pod: the probes reach only one worker per request and cannot see a dead one.
    """
    sock = _uvicorn_config(settings).bind_socket()
    context = multiprocessing.get_context("spawn")
    ready_flags = context.RawArray("b", settings.workers)
    workers = [
        context.Process(
            target=_serve_worker,
            args=(settings, sock, WorkerSlot(ready_flags, n), os.getpid()),
            name=f"kiln-worker-{n}",
        )
        for n in range(settings.workers)
    ]
    signals: list[int] = []

    def forward(sig: int, frame: FrameType | None) -> None:
        signals.append(sig)
        logger.info(
            "%s received: sending SIGTERM to %d workers", signal.Signals(sig).name, len(workers)
        )
        _terminate(workers)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.start()
    # Only the workers hold the socket now, so once each has closed it during its drain,
    # the kernel refuses new connections instead of queueing them where no worker accepts.
    sock.close()
    logger.info("started %d workers: %s", len(workers), ", ".join(str(w.pid) for w in workers))

    code = 0
    running = list(workers)
    while running:
        multiprocessing.connection.wait([worker.sentinel for worker in running], timeout=1.0)
        for worker in [w for w in running if w.exitcode is not None]:
            running.remove(worker)
            exit_code = worker.exitcode if worker.exitcode and worker.exitcode > 0 else 1
            if worker.exitcode != 0:
                code = code or exit_code
            if not signals:
                logger.error(
                    "worker %d exited with %s without a signal; stopping the other workers",
                    worker.pid,
                    worker.exitcode,
                )
                signals.append(signal.SIGTERM)
                code = code or 1
                _terminate(running)

    logger.info("exit %d: %d workers stopped", code, len(workers))
    sys.stderr.flush()
    return code


def _terminate(workers: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for worker in workers:
        if worker.pid is not None and worker.exitcode is None:
            os.kill(worker.pid, signal.SIGTERM)


def _serve_worker(
    settings: Settings, sock: socket.socket, worker: WorkerSlot, supervisor_pid: int
) -> None:
    # A process group of its own: a terminal's Ctrl-C reaches only the supervisor, which
    # forwards one SIGTERM, instead of reaching each worker twice.
    os.setpgid(0, 0)
    if sys.platform == "linux":
        # PR_SET_PDEATHSIG (1): the kernel sends SIGTERM to this worker if the supervisor
        # dies, so a killed supervisor never leaves workers holding the port.
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    if os.getppid() != supervisor_pid:
        raise SystemExit(1)
    server = KilnServer(_uvicorn_config(settings), settings, worker)
    server.run(sockets=[sock])
    raise SystemExit(_exit_code(server))


def _exit_code(server: KilnServer) -> int:
    lifecycle = server.lifecycle
    if lifecycle is None:
        return 1
    timings = lifecycle.timings
    steps = [
        ("drain delay", "drain_started", "stopped_accepting"),
        ("in-flight drain", "stopped_accepting", "inflight_drained"),
        ("components and release", "inflight_drained", "released"),
        ("total", "drain_started", "released"),
    ]
    parts = [
        f"{label} {timings[end] - timings[start]:.2f} s"
        for label, start, end in steps
        if start in timings and end in timings
    ]
    code = lifecycle.exit_code
    logger.info("exit %d: %s", code, ", ".join(parts) or f"state {lifecycle.phase.value}")
    sys.stderr.flush()
    return code
