"""``python -m kiln_operator tune|operator``: the operator's subcommands without the server."""

from __future__ import annotations

import argparse

from kiln_operator.cli import add_subcommands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiln_operator")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
