"""uvicorn's server with the shutdown order Kubernetes needs.

On the first SIGTERM or SIGINT the server turns readiness false at once, keeps accepting and
serving for the drain delay (so endpoint lists and load balancers stop routing to it), then
closes the listener, waits up to the request timeout for in-flight requests, and runs the
lifespan's shutdown, which releases the model. A second signal exits at once.

uvicorn (0.29 and later) re-raises a captured signal after a graceful shutdown, which would
end the process with 143 instead of 0; this server handles the signals itself, so a
finished drain exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from types import FrameType

import uvicorn

from kiln_service.lifecycle import Lifecycle, Phase
from kiln_service.settings import Settings

logger = logging.getLogger(__name__)


class KilnServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        super().__init__(config)
        self.settings = settings
        self.lifecycle: Lifecycle | None = None
        self._exit_at: float | None = None

    async def _serve(self, sockets: list[socket.socket] | None = None) -> None:
        # The app is built here, in the process that serves it: with several workers each
        # worker builds its own app and lifespan, and the supervisor never loads a model.
        from kiln_service.app import create_app
        from kiln_service.logs import configure_logging

        configure_logging(
            self.settings.log_format, self.settings.log_level, access_log=self.settings.access_log
        )
        self.lifecycle = Lifecycle()
        self.config.app = create_app(self.settings, self.lifecycle)
        self.config.loaded = False
        await super()._serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        name = signal.Signals(sig).name
        lifecycle = self.lifecycle
        if lifecycle is None or self._exit_at is not None or self.should_exit:
            logger.warning("second %s received: exiting now without draining", name)
            logging.shutdown()
            os._exit(1)

        previous = lifecycle.begin_drain()
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
        logger.info(
            "in-flight drained in %.2f s", self.lifecycle.since("stopped_accepting")
        )


def run_server(settings: Settings) -> int:
    """Serve until a signal or a failed load; return the process exit code."""
    config = uvicorn.Config(
        app="kiln_service.app:create_app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=int(max(1, round(settings.request_timeout))),
        lifespan="on",
        server_header=False,
    )
    server = KilnServer(config, settings)
    if settings.workers == 1:
        server.run()
        return _exit_code(server)

    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    Multiprocess(config, target=server.run, sockets=[sock]).run()
    return 0


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
