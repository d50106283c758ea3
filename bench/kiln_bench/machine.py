"""The facts the report states first: machine, software versions, commit, date, commands."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "safetensors", "tokenizers", "fastapi", "uvicorn", "uvloop",
            "sentence-transformers", "transformers", "kopf")  # fmt: skip


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _commit(repo: Path) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(repo: Path, command: str) -> str:
    load = Path("/proc/loadavg").read_text().split()[:3]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    lines = [
        f"- Date: {now}; commit `{_commit(repo)}`.",
        f"- Command: `{command}`.",
        f"- Machine: {_cpu_model()}, {os.cpu_count()} logical CPUs, "
        f"{_memory_gib():.1f} GiB memory, Linux {platform.release()}, "
        f"{platform.platform(terse=True)}.",
        f"- Load average when the run started: {' '.join(load)}.",
        f"- Python {sys.version.split()[0]}; {versions}.",
    ]
    return "\n".join(lines)
