"""The `nasnet` command line."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
from collections.abc import Sequence

from nasnet.errors import Interrupted, NasnetError, printable
from nasnet.registry import load_plugins

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    from nasnet import __version__
    from nasnet.cli import draw, experiment, export_model, models, report, search, train, weights

    parser = argparse.ArgumentParser(
        prog="nasnet",
        description="Neural architecture search with NASNet cells: search, train, inspect and export.",
    )
    parser.add_argument("--version", action="version", version=f"nasnet {__version__}")
    parser.add_argument(
        "--plugin",
        action="append",
        metavar="MODULE",
        help="import MODULE first, so that the ops, models, strategies, evaluators, rewards, executors or "
        "datasets it registers can be named (repeatable, before or after the command; installed entry points "
        "load without it)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module in (models, weights, train, export_model, search, experiment, draw, report):
        module.register(commands)
    return parser


EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
# Operating-system errors that are the user's situation, not a bug: said in one line, no traceback.
_USER_OS_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "not a directory",
    errno.EISDIR: "is a directory",
    errno.ENOENT: "no such file or directory",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Slurm, Kubernetes and `timeout` send), handled as Ctrl-C is."""


_signal_received: list[int] = []


def _raise_terminated(signum: int, frame: object) -> None:
    _signal_received.append(signum)
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; bad input and interruptions end in one line and an exit code, never a traceback."""
    _signal_received.clear()
    previous = None
    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    command = "nasnet"
    try:
        plugins, rest = _take_plugins(sys.argv[1:] if argv is None else list(argv))
        load_plugins(plugins)
        parser = build_parser()
        args = parser.parse_args(rest)
        command = f"nasnet {args.command}"
        return _run(args, command)
    except KeyboardInterrupt:  # during start-up or argument parsing
        return _interrupted(command, "interrupted")
    except NasnetError as err:  # a --plugin that cannot be imported
        print(f"{command}: error: {printable(str(err), 2000)}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _take_plugins(argv: list[str]) -> tuple[list[str], list[str]]:
    """The ``--plugin`` modules named anywhere in ``argv`` (``--plugin M`` or ``--plugin=M``), and the rest.

    They are imported before the parser is built, since its choices come from the registries; so
    ``nasnet --plugin M search ...`` and ``nasnet train --plugin M ...`` both work.
    """
    modules, rest = [], []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest.extend(argv[index:])
            break
        if arg == "--plugin" and index + 1 < len(argv):
            modules.append(argv[index + 1])
            index += 2
            continue
        if arg.startswith("--plugin="):
            modules.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
        index += 1
    return modules, rest


def _interrupted(command: str, message: str) -> int:
    if _signal_received:
        print(f"{command}: {message} (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    print(f"{command}: {message}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _run(args: argparse.Namespace, command: str) -> int:
    from nasnet.search.loop import SearchInterrupted

    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a full disk or a closed pipe is reported here, not at interpreter exit
        return code
    except (SearchInterrupted, Interrupted) as err:
        return _interrupted(command, str(err))
    except NasnetError as err:
        print(f"{command}: error: {printable(str(err), 2000)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return _interrupted(command, "interrupted")
    except BrokenPipeError:
        # The reader went away (`nasnet top DIR | head`): stop quietly, and keep Python from complaining at exit.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as err:
        if err.errno not in _USER_OS_ERRORS:
            raise
        where = f": {err.filename}" if err.filename else ""
        print(f"{command}: error: {_USER_OS_ERRORS[err.errno]}{where}", file=sys.stderr)
        return 1
