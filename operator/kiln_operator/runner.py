"""Run the operator: kopf with the kiln handlers, standalone, in this process.

The operator runs as a single replica without kopf's peering, so its RBAC needs no peering
objects. Run one pod, for example with a Deployment that uses the Recreate strategy.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import kopf

from kiln_operator.config import OperatorConfig
from kiln_operator.handlers import build_registry
from kiln_operator.metrics import MetricsServer, OperatorMetrics

logger = logging.getLogger(__name__)


def check_scope(config: OperatorConfig) -> None:
    if not config.all_namespaces and not config.namespaces:
        raise ValueError("No namespace to watch: pass --all-namespaces, or --namespace NAME "
                         "once per namespace.")
    if config.all_namespaces and config.namespaces:
        raise ValueError("--all-namespaces and --namespace exclude each other; pass one of them.")
    port = config.metrics_port
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"--metrics-port {port!r} is not a TCP port; pass 1 to 65535.")


def start_metrics(config: OperatorConfig, metrics: OperatorMetrics) -> MetricsServer | None:
    """Serve ``metrics`` when the config names a metrics port; return None otherwise."""
    if config.metrics_port is None:
        return None
    return MetricsServer.start(metrics, config.metrics_address, config.metrics_port)


def run_forever(config: OperatorConfig) -> None:
    """Run until SIGINT or SIGTERM, which kopf turns into a graceful stop."""
    check_scope(config)
    scope = "all namespaces" if config.all_namespaces else ", ".join(config.namespaces)
    logger.info("Starting the kiln operator for %s.", scope)
    metrics = OperatorMetrics()
    server = start_metrics(config, metrics)
    try:
        kopf.run(
            registry=build_registry(config, metrics),
            standalone=True,
            clusterwide=config.all_namespaces,
            namespaces=config.namespaces,
            liveness_endpoint=config.liveness_endpoint,
        )
    finally:
        if server is not None:
            server.stop()


def run_until(
    config: OperatorConfig, stop_flag: threading.Event, ready_flag: threading.Event
) -> None:
    """Run in the calling thread with a new event loop until ``stop_flag`` is set."""
    check_scope(config)
    metrics = OperatorMetrics()
    server = start_metrics(config, metrics)
    try:
        asyncio.run(kopf.operator(
            registry=build_registry(config, metrics),
            standalone=True,
            clusterwide=config.all_namespaces,
            namespaces=config.namespaces,
            liveness_endpoint=config.liveness_endpoint,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        ))
    finally:
        if server is not None:
            server.stop()
