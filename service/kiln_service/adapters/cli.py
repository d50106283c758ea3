"""`kiln adapter fit`: train a classification head on labelled texts and write an adapter.

Imports here stay light, because the `kiln` command builds every subcommand's parser at
start; torch and the model code load only when `fit` runs.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from kiln_service.adapters.manifest import invalid_name_reason

DEFAULT_L2 = 1e-4


def add_subcommands(subcommands: Any) -> None:
    adapter = subcommands.add_parser(
        "adapter", help="fit adapters (small models over the base model's embeddings)"
    )
    actions = adapter.add_subparsers(dest="adapter_command", required=True)
    fit = actions.add_parser(
        "fit", help="train a linear classification head from a JSONL file of labelled texts"
    )
    fit.add_argument(
        "data", type=Path, help='JSONL file with one {"text": ..., "label": ...} object per line'
    )
    fit.add_argument(
        "output",
        type=Path,
        help="adapter directory to write, ADAPTERS_DIR/NAME; its name is the adapter's name",
    )
    model_dir = os.environ.get("KILN_MODEL_DIR")
    fit.add_argument(
        "--model-dir",
        type=Path,
        default=Path(model_dir) if model_dir else None,
        help="baked base model directory that will serve the adapter [env KILN_MODEL_DIR]",
    )
    fit.add_argument(
        "--validation", type=Path, help="JSONL file of held-out examples to report accuracy on"
    )
    fit.add_argument(
        "--l2",
        type=float,
        default=DEFAULT_L2,
        help=f"weight of the L2 penalty on the head's weights (default {DEFAULT_L2:g})",
    )
    fit.add_argument("--force", action="store_true", help="replace an existing output directory")
    fit.set_defaults(func=_fit)


def _fit(args: argparse.Namespace) -> int:
    from kiln_service.adapters.fit import DatasetError
    from kiln_service.weights.errors import WeightsError

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    problem = _check_arguments(args)
    if problem is not None:
        print(f"kiln adapter fit: {problem}", file=sys.stderr)
        return 2
    try:
        _run_fit(args)
    except (DatasetError, WeightsError, ValueError) as error:
        print(f"kiln adapter fit: {error}", file=sys.stderr)
        return 1
    return 0


def _check_arguments(args: argparse.Namespace) -> str | None:
    if args.model_dir is None:
        return "pass --model-dir (or set KILN_MODEL_DIR) to the baked base model directory."
    if args.l2 < 0:
        return f"--l2 is {args.l2!r}; it must be zero or more."
    output: Path = args.output
    reason = invalid_name_reason(output.name)
    if reason is not None:
        return f"{reason}; the output directory's name becomes the adapter's name."
    if output.exists() and any(output.iterdir()) and not args.force:
        return f"the output directory {str(output)!r} is not empty; choose another or pass --force."
    return None


def _run_fit(args: argparse.Namespace) -> None:
    from kiln_service.adapters import fit
    from kiln_service.adapters.manifest import write_adapter

    examples = fit.read_examples(args.data)
    labels = sorted({example.label for example in examples})
    if len(labels) < 2:
        raise fit.DatasetError(
            f"{args.data}: every example has the label {labels[0]!r}; a classifier needs "
            "examples of two or more labels."
        )
    validation = fit.read_examples(args.validation) if args.validation else []
    targets = fit.label_ids(examples, labels, args.data)
    validation_targets = fit.label_ids(validation, labels, args.validation) if validation else []

    started = time.monotonic()
    model = fit.load_base_model(args.model_dir)
    embeddings = fit.embed_texts(model, [example.text for example in examples])
    head = fit.fit_head(embeddings, targets, labels, l2=args.l2)
    training: dict[str, Any] = {
        "data": args.data.name,
        "data_sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
        "examples": len(examples),
        "l2": args.l2,
        "loss": round(head.loss, 6),
        "train_accuracy": round(fit.accuracy(head, embeddings, targets), 4),
    }
    if validation:
        validation_embeddings = fit.embed_texts(model, [example.text for example in validation])
        training["validation_examples"] = len(validation)
        training["validation_accuracy"] = round(
            fit.accuracy(head, validation_embeddings, validation_targets), 4
        )

    manifest = write_adapter(
        args.output,
        base_model=model.name,
        labels=labels,
        weight=head.weight,
        bias=head.bias,
        training=training,
    )
    model.release()
    _print_summary(args, manifest.name, model.name, labels, training, time.monotonic() - started)


def _print_summary(
    args: argparse.Namespace,
    name: str,
    base_model: str,
    labels: list[str],
    training: dict[str, Any],
    seconds: float,
) -> None:
    validation = ""
    if "validation_accuracy" in training:
        validation = (
            f", validation accuracy {training['validation_accuracy']:.3f} on "
            f"{training['validation_examples']} examples"
        )
    print(
        f"Fit adapter {name!r} on base model {base_model!r} in {seconds:.1f} s: "
        f"{training['examples']} examples, {len(labels)} labels ({', '.join(labels)}), "
        f"training accuracy {training['train_accuracy']:.3f}{validation}."
    )
    print(f"Wrote {args.output}. Serve it with:")
    print(f"  kiln serve --model-dir {args.model_dir} --adapters-dir {args.output.parent}")
    print("and call it with:")
    print(
        "  curl -s http://127.0.0.1:8000/v1/classify -H 'Content-Type: application/json' "
        f"""-d '{{"adapter": "{name}", "input": "text to classify"}}'"""
    )
