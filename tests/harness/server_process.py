"""A real `kiln serve` process on 127.0.0.1, started and signalled the way Kubernetes does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(
        self,
        *args: str,
        model_dir: Path | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="kiln-serve-", suffix=".log")[1])
        command = [sys.executable, "-m", "kiln_service", "serve", "--port", str(self.port)]
        command += ["--host", "127.0.0.1"]
        if model_dir is not None:
            command += ["--model-dir", str(model_dir)]
        command += list(args)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
        full_env.update(env or {})
        self._log = self.log_path.open("wb")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=full_env
        )
        self.signalled_at: float | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def wait_until(self, path: str, status: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url(path), timeout=1.0).status_code == status:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{path} did not return {status} within {timeout} s:\n{self.log()}")

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        self.wait_until("/readyz", 200, timeout)
        return self

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.signalled_at = time.monotonic()
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float = 60.0) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.flush()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
