"""The `nasnet` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nasnet.errors import NasnetError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    from nasnet import __version__
    from nasnet.cli import models, search, train

    parser = argparse.ArgumentParser(
        prog="nasnet",
        description="Neural architecture search with NASNet cells: search, train, inspect and export.",
    )
    parser.add_argument("--version", action="version", version=f"nasnet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module in (models, train, search):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from nasnet.search.loop import SearchInterrupted

    try:
        return int(args.handler(args) or 0)
    except SearchInterrupted as err:
        print(f"nasnet {args.command}: {err}", file=sys.stderr)
        return 130
    except NasnetError as err:
        print(f"nasnet {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"nasnet {args.command}: interrupted", file=sys.stderr)
        return 130
