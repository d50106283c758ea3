"""Servers under test as real processes: start, wait for readiness, read their memory, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Served:
    """One server process on 127.0.0.1 with its log in a temporary file."""

    def __init__(self, command: list[str], *, port: int, env: dict[str, str] | None = None):
        self.port = port
        self.log_path = Path(tempfile.mkstemp(prefix="kiln-bench-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
        full_env.update(env or {})
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=full_env
        )

    @classmethod
    def kiln(cls, model_dir: Path, *args: str) -> Served:
        port = free_port()
        command = [sys.executable, "-m", "kiln_service", "serve", "--host", HOST]
        command += ["--port", str(port), "--model-dir", str(model_dir), *args]
        return cls(command, port=port)

    def wait_status(self, path: str, status: int = 200, timeout: float = 600.0) -> float:
        """Poll `path` every 10 ms; return seconds from process start to `status`."""
        deadline = time.monotonic() + timeout
        url = f"http://{HOST}:{self.port}{path}"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with code {self.process.returncode} before {path} "
                    f"returned {status}:\n{self.log()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == status:
                        return time.monotonic() - self.started_at
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{url} did not return {status} within {timeout} s:\n{self.log()}")

    def wait_log(self, text: str, count: int = 1, timeout: float = 600.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(text) >= count:
                return time.monotonic() - self.started_at
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()[-3000:]}")
            time.sleep(0.02)
        raise RuntimeError(f"{text!r} did not appear {count} times in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 60.0) -> float:
        """Send SIGTERM and return the seconds until the process exited."""
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        return time.monotonic() - sent

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.terminate(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def status_kib(pid: int, field: str) -> int:
    """Return a `/proc/PID/status` field such as VmHWM or VmRSS, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} is not in /proc/{pid}/status")


def rollup_kib(pid: int) -> dict[str, int]:
    """Return the KiB fields of `/proc/PID/smaps_rollup` (Rss, Pss, Pss_Anon, Pss_File...)."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            values[name] = int(parts[0])
    return values


def descendants(pid: int) -> list[int]:
    """Return `pid` and every process below it, read from /proc/PID/task/*/children."""
    found = [pid]
    index = 0
    while index < len(found):
        for task in Path(f"/proc/{found[index]}/task").glob("*"):
            try:
                found += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
        index += 1
    return found
