"""Run the ``ApiEmulator`` over HTTP on 127.0.0.1 in a thread with its own event loop.

kmock has no command that serves the emulator, and its pytest fixture runs it in the test's
own event loop, where a synchronous ``kubernetes`` client call or ``kubectl`` would block it.
``RunningEmulator`` therefore owns a thread and a loop, so tests, the operator thread and
subprocesses can all talk to it at the same time. Read and change its state through
``call()``, which runs a function inside the emulator's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kmock import Server

from .faults import Fault
from .request_log import ApiRequest
from .server import ApiEmulator

T = TypeVar("T")


class RunningEmulator:
    """An ``ApiEmulator`` served on ``127.0.0.1`` at a free port by a background thread."""

    def __init__(self, emulator: ApiEmulator) -> None:
        self.emulator = emulator
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._port = 0
        self._thread = threading.Thread(target=self._run, name="api-emulator", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> RunningEmulator:
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise RuntimeError("The API emulator did not start within 30 seconds.")
        if self._failure is not None:
            raise RuntimeError("The API emulator failed to start.") from self._failure
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:  # noqa: BLE001 - reported to start() instead
            self._failure = error
            self._started.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with self.emulator, Server(self.emulator, host="127.0.0.1") as server:
            self._port = server.port
            self._started.set()
            await self._stop.wait()
            await self.emulator.close_watches()

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` inside the emulator's loop and return its result.

        After ``stop()`` nothing else touches the emulator, so ``function`` runs here.
        """
        if not self._thread.is_alive():
            return function()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(function())
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller
                future.set_exception(error)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def requests(self, user: str | None = None) -> list[ApiRequest]:
        """Return the logged requests so far, optionally only those of one identity."""
        log = self.call(lambda: list(self.emulator.request_log))
        return [request for request in log if user is None or request.user == user]

    def inject(self, fault: Fault) -> None:
        self.call(lambda: self.emulator.faults.append(fault))

    def register_crd(self, crd: dict[str, Any]) -> None:
        self.call(lambda: self.emulator.register_crd(crd))

    def object_history(
        self, plural: str, namespace: str | None, name: str, group: str = "", version: str = "v1"
    ) -> list[dict[str, Any] | None]:
        """Return every stored version of an object, None marking a deletion."""
        from kmock import resource

        key = (resource(group, version, plural), namespace, name)

        def read() -> list[dict[str, Any] | None]:
            if key not in self.emulator.objects:
                return []
            return [None if version is None else dict(version.raw)
                    for version in self.emulator.objects[key].history]

        return self.call(read)

    def write_kubeconfig(self, path: Path, token: str, namespace: str = "default") -> Path:
        """Write a kubeconfig that reaches this emulator with a bearer token."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "user", "user": {"token": token}}],
            "contexts": [{"name": "emulator", "context": {
                "cluster": "emulator", "user": "user", "namespace": namespace}}],
            "current-context": "emulator",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path
