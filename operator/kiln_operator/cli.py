"""The ``kiln tune`` and ``kiln operator`` subcommands.

``add_subcommands`` imports nothing heavy: kopf and the kubernetes client load only when
``kiln operator`` runs, so ``kiln tune`` works anywhere the package is installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kiln_operator.quantity import QuantityError, parse_bytes

DEFAULT_QUEUE_DRAIN_SECONDS = 10  # spec.timing.queueDrainSeconds' default in the CRD


def add_subcommands(subparsers: Any) -> None:
    """Add ``tune`` and ``operator`` to an argparse subparsers object."""
    _add_tune(subparsers)
    _add_operator(subparsers)


def _add_tune(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="print the probes, grace period and server settings for a model size",
        description="Print the pod-spec fragment the kiln operator would use: probes, "
                    "terminationGracePeriodSeconds, lifecycle and the server's deadline env.",
    )
    parser.add_argument("--size", help="weight size in bytes or as a quantity, such as 70Gi")
    parser.add_argument("--throughput", help="assumed load throughput per second, such as 500Mi")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="default: cpu")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per pod with --device gpu")
    parser.add_argument("--verify", choices=("full", "size"), default="full",
                        help="full adds hashing every weight file to the load (default)")
    parser.add_argument("--max-request", type=int, default=30,
                        help="seconds the longest request may take (default 30)")
    parser.add_argument("--drain-delay", type=int, default=5,
                        help="seconds a terminating pod keeps serving (default 5)")
    parser.add_argument("--jobs", action="store_true",
                        help="the server runs the background job queue (spec.jobs): the grace "
                             "period adds the queue drain and one more --max-request for the "
                             "jobs still running then")
    parser.add_argument("--queue-drain", type=int, default=None,
                        help="seconds the job queue may drain at shutdown, with --jobs "
                             "(default 10)")
    parser.add_argument("--drain-mode", choices=("server", "preStopSleep"), default="server",
                        help="drain in the server (default) or with a preStop sleep hook")
    parser.add_argument("--backend", action="store_true",
                        help="gateway to an external backend: no weights, no --size")
    parser.add_argument("--output", choices=("yaml", "json"), default="yaml",
                        help="output format (default yaml)")
    parser.add_argument("--table", action="store_true",
                        help="print the Markdown table of docs/tuning.md instead")
    parser.set_defaults(func=run_tune)


def _add_operator(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "operator",
        help="run the ModelService operator (kopf)",
        description="Watch ModelService objects and reconcile their Deployments, Services and "
                    "PodDisruptionBudgets. Stops gracefully on SIGTERM.",
    )
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("-n", "--namespace", action="append", dest="namespaces", default=[],
                       help="namespace to watch; repeat for several")
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="watch every namespace (needs cluster-wide RBAC)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then "
                                             "KUBECONFIG, then ~/.kube/config)")
    parser.add_argument("--liveness", default="http://127.0.0.1:8080/healthz",
                        help="URL of the operator's health endpoint; in a pod use "
                             "http://0.0.0.0:8080/healthz (default %(default)s)")
    parser.add_argument("--retry-delay", type=float, default=5.0,
                        help="seconds before the first retry after an API error; doubles "
                             "each time up to --max-retry-delay (default 5)")
    parser.add_argument("--max-retry-delay", type=float, default=300.0,
                        help="maximum delay between retries in seconds (default 300)")
    parser.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                        help="serve Prometheus metrics on this TCP port, path /metrics "
                             "(default: no metrics endpoint)")
    parser.add_argument("--metrics-address", default="127.0.0.1", metavar="ADDRESS",
                        help="IP address the metrics endpoint binds with --metrics-port; in a "
                             "pod use 0.0.0.0 (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="log at debug level")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="log format (default text)")
    parser.set_defaults(func=run_operator)


def tune_fragment(args: argparse.Namespace) -> dict[str, Any]:
    """Return the pod-spec fragment for the parsed ``kiln tune`` arguments."""
    from kiln_operator.fragment import pod_fragment
    from kiln_operator.tuning import TuningInputs, tune

    if args.backend:
        if args.size is not None:
            raise ValueError("--size and --backend exclude each other: a gateway has no weights.")
        weight_bytes = 0
    else:
        if args.size is None:
            raise ValueError("--size is missing: pass the weight size, such as --size 70Gi, "
                             "or --backend for a gateway.")
        weight_bytes = parse_bytes(args.size, field="--size")
    throughput = None if args.throughput is None else parse_bytes(
        args.throughput, field="--throughput")
    if args.queue_drain is not None and not args.jobs:
        raise ValueError("--queue-drain applies only with --jobs, because a server without "
                         "the job queue has no queue to drain.")
    queue_drain = DEFAULT_QUEUE_DRAIN_SECONDS if args.queue_drain is None else args.queue_drain
    for flag, value in (("--max-request", args.max_request), ("--drain-delay", args.drain_delay),
                        ("--queue-drain", queue_drain)):
        if value < (1 if flag == "--max-request" else 0):
            raise ValueError(f"{flag}: {value!r} is too small; pass a number of seconds.")
    inputs = TuningInputs(
        weight_bytes=weight_bytes,
        device=args.device,
        gpu_count=args.gpus if args.device == "gpu" else 0,
        load_throughput=throughput,
        verify=args.verify,
        max_request_seconds=args.max_request,
        drain_delay_seconds=args.drain_delay,
        queue_drain_seconds=queue_drain,
        jobs=args.jobs,
        drain_mode=args.drain_mode,
        gateway=args.backend,
    )
    tuning = tune(inputs)
    for warning in tuning.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return pod_fragment(tuning)


def run_tune(args: argparse.Namespace) -> int:
    if args.table:
        from kiln_operator.tuning_table import table

        sys.stdout.write(table())
        return 0
    try:
        fragment = tune_fragment(args)
    except (ValueError, QuantityError) as error:
        print(f"kiln tune: {error}", file=sys.stderr)
        return 2
    if args.output == "json":
        print(json.dumps(fragment, indent=2))
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(fragment, sort_keys=False))
    return 0


def run_operator(args: argparse.Namespace) -> int:
    import logging

    import kopf

    from kiln_operator.config import OperatorConfig
    from kiln_operator.runner import run_forever

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger("kiln_operator").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    config = OperatorConfig(
        namespaces=tuple(args.namespaces),
        all_namespaces=args.all_namespaces,
        kubeconfig=args.kubeconfig,
        liveness_endpoint=args.liveness,
        retry_base_seconds=args.retry_delay,
        retry_max_seconds=args.max_retry_delay,
        metrics_port=args.metrics_port,
        metrics_address=args.metrics_address,
    )
    try:
        run_forever(config)
    except (ValueError, OSError) as error:
        print(f"kiln operator: {error}", file=sys.stderr)
        return 2
    return 0
