"""Podman as the image tests drive it: build options for this host and running containers.

Two host facts shape every command here (Debian bookworm, podman 4.3):
- crun 1.8 rejects hosts with hybrid cgroups ("cgroups in hybrid mode not supported"), so
  builds and containers use runc.
- podman requests nofile and nproc limits above this host's hard limits, and raising a
  limit is not permitted, so containers run with lower limits.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

RUNTIME_OPTIONS = ["--runtime", "runc"]
RUN_OPTIONS = [*RUNTIME_OPTIONS, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

# Host files that let pip inside a build reach the package index the way pip on the host
# does: the CA bundle and pip.conf that trusts it, pip's site-wide config with its
# constraints, and a directory of local wheels (torch). Each is mounted read-only when
# present; none is written into an image layer.
HOST_PIP_PATHS = [
    Path("/etc/ssl/certs"),
    Path("/etc/pip.conf"),
    Path("/etc/xdg/pip"),
    Path("/opt/wheels"),
]
LOCAL_WHEELS = Path("/opt/wheels")


def podman(*args: str, timeout: float = 120.0, check: bool = True) -> str:
    """Run `podman ARGS` and return its standard output."""
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited with {result.returncode}:\n{result.stderr}"
        )
    return result.stdout


def build_options() -> list[str]:
    """Options for `podman build` on this host, passed through scripts/build-image.sh."""
    options = [*RUNTIME_OPTIONS, "--network", "host"]
    for path in HOST_PIP_PATHS:
        if path.exists():
            options += ["--volume", f"{path}:{path}:ro"]
    return options


def torch_index_options() -> list[str]:
    """Take torch from the local wheel directory when it has one, instead of PyTorch's index."""
    if any(LOCAL_WHEELS.glob("torch-*.whl")):
        return ["--torch-index-url", ""]
    return []


def image_config(image: str) -> dict[str, Any]:
    return dict(json.loads(podman("image", "inspect", image))[0])


class Container:
    """One detached container, removed on exit from the `with` block."""

    def __init__(self, image: str, *options: str, env: dict[str, str] | None = None) -> None:
        self.name = f"kiln-test-{uuid.uuid4().hex[:10]}"
        self.image = image
        self.options = list(options)
        for key, value in (env or {}).items():
            self.options += ["--env", f"{key}={value}"]

    def start(self) -> Container:
        podman("run", "--detach", "--name", self.name, *RUN_OPTIONS, *self.options, self.image)
        return self

    def exec(self, *command: str, check: bool = True) -> str:
        return podman("exec", self.name, *command, check=check)

    def read_file(self, path: str) -> bytes:
        result = subprocess.run(
            ["podman", "exec", self.name, "cat", path], capture_output=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return result.stdout

    def python(self, code: str) -> str:
        """Run Python code in the container with the image's interpreter; return its output."""
        return self.exec("python3", "-c", code)

    def stop(self, grace_seconds: int) -> float:
        """Run `podman stop` (STOPSIGNAL, then SIGKILL after the grace); return its seconds."""
        started = time.monotonic()
        podman("stop", "--time", str(grace_seconds), self.name, timeout=grace_seconds + 60)
        return time.monotonic() - started

    def state(self) -> dict[str, Any]:
        return dict(json.loads(podman("container", "inspect", self.name))[0]["State"])

    def assert_running(self) -> None:
        """Raise with the container's log if its process has exited."""
        state = self.state()
        if not state["Running"]:
            raise AssertionError(
                f"container {self.name} exited with {state['ExitCode']}:\n{self.logs()}"
            )

    def logs(self) -> str:
        result = subprocess.run(
            ["podman", "logs", self.name], capture_output=True, text=True, timeout=60, check=False
        )
        return result.stdout + result.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)

    def __enter__(self) -> Container:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.remove()
