"""Server settings, read from `KILN_*` environment variables and overridden by `kiln serve` flags.

Every setting has one name: the flag `--drain-delay` and the variable `KILN_DRAIN_DELAY` set
the field `drain_delay`. Durations are seconds. Invalid values stop the server before it
binds its port, with a message that names the variable and the accepted values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

ENV_PREFIX = "KILN_"

Verification = Literal["full", "size"]
LogFormat = Literal["text", "json"]
Device = Literal["cpu", "cuda"]


class SettingsError(ValueError):
    """A setting has a value the server cannot use."""


@dataclass(frozen=True)
class Settings:
    model_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    device: Device = "cpu"
    drain_delay: float = 0.0
    request_timeout: float = 30.0
    load_timeout: float = 600.0
    verify: Verification = "full"
    log_format: LogFormat = "text"
    log_level: str = "info"
    access_log: bool = False
    max_batch_size: int = 32
    batch_wait_ms: float = 0.0
    max_inflight: int = 512
    max_inputs: int = 2048
    max_body_bytes: int = 4 * 1024 * 1024
    backend_url: str | None = None
    backend_check_interval: float = 5.0
    backend_timeout: float = 30.0
    backend_connect_timeout: float = 2.0
    backend_max_connections: int = 64
    queue_drain_timeout: float = 30.0
    data_dir: Path | None = None
    jobs_store: Literal["sqlite", "redis"] = "sqlite"
    redis_url: str | None = None
    job_workers: int = 1
    adapters_dir: Path | None = None
    adapter_cache_bytes: int = 256 * 1024 * 1024
    adapter_cache_count: int = 64

    def __post_init__(self) -> None:
        _require(self.port, "port", 0 <= self.port <= 65535, "between 0 and 65535")
        _require(self.workers, "workers", self.workers >= 1, "at least 1")
        for name in ("drain_delay", "batch_wait_ms", "queue_drain_timeout"):
            value = getattr(self, name)
            _require(value, name, value >= 0, "zero or more")
        for name in ("request_timeout", "load_timeout", "backend_check_interval",
                     "backend_timeout", "backend_connect_timeout"):  # fmt: skip
            value = getattr(self, name)
            _require(value, name, value > 0, "more than zero")
        for name in ("max_batch_size", "max_inflight", "max_inputs", "max_body_bytes",
                     "backend_max_connections", "job_workers", "adapter_cache_count"):  # fmt: skip
            value = getattr(self, name)
            _require(value, name, value >= 1, "at least 1")
        if self.model_dir is None and self.backend_url is None:
            raise SettingsError(
                "No model to serve: set --model-dir (KILN_MODEL_DIR) to a baked model "
                "directory, or --backend (KILN_BACKEND_URL) to an embeddings server."
            )
        if self.device == "cuda" and self.workers > 1 and self.backend_url is None:
            raise SettingsError(
                f"--workers {self.workers} with --device cuda would load one copy of the "
                "weights per worker on the same GPU. Run one worker per GPU and scale with "
                "replicas, or use --backend to run several gateway workers."
            )

    @property
    def env_names(self) -> dict[str, str]:
        return {f.name: ENV_PREFIX + f.name.upper() for f in fields(self)}


def _require(value: object, name: str, ok: bool, expected: str) -> None:
    if not ok:
        raise SettingsError(
            f"Setting {name} ({ENV_PREFIX}{name.upper()}) is {value!r}; it must be {expected}."
        )


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Build settings from the environment, then apply non-None `overrides` (from flags)."""
    values: dict[str, Any] = {}
    for field in fields(Settings):
        raw = os.environ.get(ENV_PREFIX + field.name.upper())
        if raw is not None and raw != "":
            values[field.name] = _parse(field.name, str(field.type), raw)
    if "port" not in values and os.environ.get("PORT"):
        values["port"] = _parse("port", "int", os.environ["PORT"])
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    return Settings(**values)


def _parse(name: str, type_name: str, raw: str) -> Any:
    env = ENV_PREFIX + name.upper()
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if type_name.startswith("Path"):
            return Path(raw)
    except ValueError:
        raise SettingsError(f"{env}={raw!r} is not a valid {type_name}.") from None

    choices = _literal_choices(name)
    if choices and raw not in choices:
        raise SettingsError(f"{env}={raw!r} is not one of {', '.join(choices)}.")
    return raw


def _literal_choices(name: str) -> tuple[str, ...]:
    annotation = {
        "verify": Verification,
        "log_format": LogFormat,
        "device": Device,
        "jobs_store": Literal["sqlite", "redis"],
    }.get(name)
    return tuple(get_args(annotation)) if annotation is not None else ()
