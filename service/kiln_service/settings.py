"""Server settings, read from `KILN_*` environment variables and overridden by `kiln serve` flags.

Every setting has one name: the flag `--drain-delay` and the variable `KILN_DRAIN_DELAY` set
the field `drain_delay`. Durations are seconds. Invalid values stop the server before it
binds its port, with a message that names the variable and the accepted values.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

ENV_PREFIX = "KILN_"

Verification = Literal["full", "size"]
LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]
Device = Literal["cpu", "cuda"]
JobsStore = Literal["sqlite", "redis"]


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
    log_level: LogLevel = "info"
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
    jobs_store: JobsStore | None = None
    redis_url: str | None = None
    redis_key_prefix: str = "kiln:jobs"
    job_workers: int = 1
    job_retention: float = 86400.0
    job_reclaim_idle: float = 60.0
    job_store_max_bytes: int = 0
    adapters_dir: Path | None = None
    adapter_cache_bytes: int = 256 * 1024 * 1024
    adapter_cache_count: int = 64

    def __post_init__(self) -> None:
        _require(self.port, "port", 0 <= self.port <= 65535, "between 0 and 65535")
        _require(self.workers, "workers", self.workers >= 1, "at least 1")
        for name in ("verify", "log_format", "log_level", "device", "jobs_store"):
            value = getattr(self, name)
            choices = _literal_choices(name)
            if value is not None:
                _require(value, name, value in choices, "one of " + ", ".join(choices))
        for name in ("drain_delay", "batch_wait_ms", "queue_drain_timeout"):
            value = getattr(self, name)
            _require(value, name, value >= 0, "zero or more")
        for name in ("request_timeout", "load_timeout", "backend_check_interval",
                     "backend_timeout", "backend_connect_timeout", "job_retention",
                     "job_reclaim_idle"):  # fmt: skip
            value = getattr(self, name)
            _require(value, name, value > 0, "more than zero")
        for name in ("max_batch_size", "max_inflight", "max_inputs", "max_body_bytes",
                     "backend_max_connections", "job_workers", "adapter_cache_bytes",
                     "adapter_cache_count"):  # fmt: skip
            value = getattr(self, name)
            _require(value, name, value >= 1, "at least 1")
        if self.model_dir is None and self.backend_url is None:
            raise SettingsError(
                "No model to serve: set --model-dir (KILN_MODEL_DIR) to a baked model "
                "directory, or --backend (KILN_BACKEND_URL) to an embeddings server."
            )
        if self.backend_url is not None:
            _check_backend_url(self.backend_url)
        if self.device == "cuda" and self.workers > 1 and self.backend_url is None:
            raise SettingsError(
                f"--workers {self.workers} with --device cuda would load one copy of the "
                "weights per worker on the same GPU. Run one worker per GPU and scale with "
                "replicas, or use --backend to run several gateway workers."
            )
        _check_jobs(self)

    @property
    def job_store(self) -> JobsStore | None:
        """The background job store in use, or None when the server takes no jobs.

        KILN_JOBS_STORE chooses it; unset, KILN_REDIS_URL selects Redis and KILN_DATA_DIR
        selects SQLite in that directory.
        """
        if self.jobs_store is not None:
            return self.jobs_store
        if self.redis_url:
            return "redis"
        if self.data_dir is not None:
            return "sqlite"
        return None

    @property
    def env_names(self) -> dict[str, str]:
        return {f.name: ENV_PREFIX + f.name.upper() for f in fields(self)}


def _require(value: object, name: str, ok: bool, expected: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        ok, expected = False, f"a finite number, and {expected}"
    if not ok:
        raise SettingsError(
            f"Setting {name} ({ENV_PREFIX}{name.upper()}) is {value!r}; it must be {expected}."
        )


def _check_backend_url(url: str) -> None:
    parts = urlsplit(url)
    # The netloc may hold a password; messages show the URL without it.
    shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"--backend (KILN_BACKEND_URL) is {shown!r}; it must be an http:// or https:// "
            "URL of an OpenAI-compatible embeddings server, such as http://embedder:8000."
        )
    if parts.query or parts.fragment:
        raise SettingsError(
            f"--backend (KILN_BACKEND_URL) is {shown!r}; remove the query or fragment, "
            "because the gateway appends /v1/embeddings to the URL's path."
        )


def _check_jobs(settings: Settings) -> None:
    _require(
        settings.job_store_max_bytes,
        "job_store_max_bytes",
        settings.job_store_max_bytes >= 0,
        "zero (no limit) or more",
    )
    if settings.jobs_store is None and settings.redis_url and settings.data_dir is not None:
        raise SettingsError(
            "Both KILN_REDIS_URL and KILN_DATA_DIR are set, so the job store is ambiguous: "
            "set KILN_JOBS_STORE to redis or sqlite."
        )
    store = settings.job_store
    if store == "redis":
        url = settings.redis_url or ""
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(
                "KILN_JOBS_STORE is redis, so KILN_REDIS_URL must be a redis://, rediss:// "
                "or unix:// URL; it is " + (repr(redact_url(url)) if url else "unset") + "."
            )
    if store == "sqlite":
        if settings.data_dir is None:
            raise SettingsError(
                "KILN_JOBS_STORE is sqlite, so KILN_DATA_DIR must name the directory of the "
                "job database; it is unset."
            )
        if settings.workers > 1:
            raise SettingsError(
                f"--workers {settings.workers} with the SQLite job store would run the same "
                "jobs in several processes. Use --workers 1, or KILN_JOBS_STORE=redis, "
                "whose consumer group shares the jobs between processes."
            )


def redact_url(url: str) -> str:
    """Replace the user and password in a URL with ***, for messages and logs."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Build settings from the environment, then apply non-None `overrides` (from flags)."""
    values: dict[str, Any] = {}
    for field in fields(Settings):
        raw = os.environ.get(ENV_PREFIX + field.name.upper())
        if raw is not None and raw != "":
            values[field.name] = _parse(field.name, str(field.type), raw)
    if "port" not in values and os.environ.get("PORT"):
        values["port"] = _parse("port", "int", os.environ["PORT"], env="PORT")
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    return Settings(**values)


def _parse(name: str, type_name: str, raw: str, *, env: str | None = None) -> Any:
    env = env or ENV_PREFIX + name.upper()
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
        "log_level": LogLevel,
        "device": Device,
        "jobs_store": JobsStore,
    }.get(name)
    return tuple(get_args(annotation)) if annotation is not None else ()
