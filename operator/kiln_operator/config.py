"""Settings of the operator process, from `kiln operator` flags."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OperatorConfig:
    """Connection, watched namespaces, retry delays (seconds) and metrics endpoint of the
    operator. ``metrics_port`` None serves no metrics."""

    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    kubeconfig: str | None = None
    liveness_endpoint: str | None = "http://127.0.0.1:8080/healthz"
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    conflict_retry_seconds: float = 60.0
    watch_timeout_seconds: int = 300
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"

    def retry_delay(self, retry: int) -> float:
        """Return the exponential backoff before retry number ``retry`` (0 for the first)."""
        return float(min(self.retry_base_seconds * 2**retry, self.retry_max_seconds))
