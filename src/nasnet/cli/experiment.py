"""`nasnet status`, `nasnet top` and `nasnet export`: read an experiment, while it runs or after."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from nasnet.cli.common import one_line, open_experiment, reward_name, show
from nasnet.errors import NasnetError
from nasnet.store.config import UNLIMITED_TRIALS

MAX_TOP = 2**62  # SQLite's LIMIT takes 64-bit integers; -k beyond this is "all of them"
RECENT_FAILURES = 3


def register(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser(
        "status", help="counts of complete, failed and running trials, the best reward and recent failures"
    )
    status.add_argument("directory")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    top = commands.add_parser("top", help="the best trials of an experiment (and how many failed)")
    top.add_argument("directory")
    top.add_argument("-k", type=int, default=10, help="how many (default: 10)")
    top.add_argument("--json", action="store_true")
    top.set_defaults(handler=cmd_top)

    export = commands.add_parser("export", help="write a trial's genotype as JSON for `nasnet train --arch`")
    export.add_argument("directory")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int)
    which.add_argument("--best", action="store_true", help="the trial with the highest reward")
    export.add_argument(
        "-o",
        "--output",
        required=True,
        help="file to write; an existing directory gets DIR/EXPERIMENT-trialN.json; - writes to stdout",
    )
    export.set_defaults(handler=cmd_export)


def _recent_failures(store: Any, count: int) -> list[dict[str, Any]]:
    """The ``count`` most recently finished failed trials: number and reason (one line each)."""
    from nasnet.store import TrialState

    failed = sorted(store.trials(TrialState.FAILED), key=lambda t: (t.finished_at or 0.0, t.number), reverse=True)
    return [
        {"trial": t.number, "failure": one_line(t.failure), "cached_from": t.cached_from, "finished_at": t.finished_at}
        for t in failed[:count]
    ]


def _strategy_state(store: Any, config: Any) -> tuple[str, dict[str, Any]]:
    """("ok", the strategy's figures), ("none", {}) before the first snapshot, or ("unreadable", {})."""
    from nasnet.registry import load_plugins
    from nasnet.search.strategy import make_strategy

    snapshot = store.load_snapshot()  # a damaged database is reported as such, by the store
    if snapshot is None:
        return "none", {}
    try:
        load_plugins(config.plugins, flag="the experiment's plug-in")
        strategy = make_strategy(config.strategy, config.search_space(), config.seed, **config.strategy_options)
        strategy.load_bytes(snapshot.state)
        return "ok", strategy.describe()
    except Exception:  # an unchecksummed (schema 1) snapshot can hold anything; status still works
        return "unreadable", {}


def _lock_held(lock: Path, stat: os.stat_result) -> bool:
    """Whether a search driver holds the experiment's lock (its flock), without disturbing it."""
    try:
        with open("/proc/locks") as handle:  # Linux: every lock, read without taking one
            lines = handle.read().splitlines()
    except OSError:
        lines = None
    if lines is not None:
        wanted = (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)
        for line in lines:
            parts = line.split()
            if len(parts) < 6 or parts[1] != "FLOCK":  # "->" lines are waiters
                continue
            with contextlib.suppress(ValueError):
                major, minor, inode = parts[5].split(":")
                if (int(major, 16), int(minor, 16), int(inode)) == wanted:
                    return True
        return False
    try:  # elsewhere: try a shared lock for a moment
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases the probe's lock
    return False


def running_session_seconds(directory: str | os.PathLike[str]) -> float | None:
    """How long the search now running in ``directory`` has run (None: none is running).

    The store adds a session's time when the session ends; a running one is counted from the
    moment its driver took the experiment's lock (and wrote its pid into the lock file).
    """
    from nasnet.store.database import LOCK_FILE

    lock = Path(directory) / LOCK_FILE
    try:
        stat = lock.stat()
    except OSError:
        return None
    if not _lock_held(lock, stat):
        return None
    return max(0.0, time.time() - stat.st_mtime)


def _status_payload(directory: str) -> dict[str, Any]:
    with open_experiment(directory) as store:
        config = store.config
        counts = store.counts()
        best = store.best(1)
        snapshot, strategy_info = _strategy_state(store, config)
        failures = _recent_failures(store, RECENT_FAILURES)
        stored_seconds = store.elapsed_seconds
    session = running_session_seconds(directory)
    return {
        "directory": directory,
        "strategy": config.strategy,
        "budget": {
            "trials": config.trials if config.trials < UNLIMITED_TRIALS else None,
            "hours": config.hours,
        },
        "completed": counts["complete"],
        "failed": counts["failed"],
        "running": counts["running"] + counts["waiting"],
        "cached": counts["cached"],
        "best_reward": best[0].reward if best else None,
        "best_trial": best[0].number if best else None,
        "elapsed_seconds": stored_seconds + (session or 0.0),
        "search_running": session is not None,
        "session_seconds": session,
        "recent_failures": failures,
        "evaluator": config.evaluator,
        "reward": config.reward,
        "snapshot": snapshot,
        "strategy_state": strategy_info,
    }


def cmd_status(args: argparse.Namespace) -> int:
    payload = _status_payload(args.directory)
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    from nasnet.search.progress import format_number, format_seconds

    evaluator = (payload["evaluator"] or {}).get("kind", "?")
    reward = reward_name(payload["reward"] or {})
    print(f"{payload['directory']}: {payload['strategy']} search, evaluator {evaluator}, reward {reward}")
    budget = payload["budget"]
    finished = payload["completed"] + payload["failed"]
    limits = [f"{budget['trials']:,} trials"] if budget["trials"] else []
    if budget["hours"] is not None:
        limits.append(f"{format_seconds(budget['hours'] * 3600)} of search time")
    print(
        f"  {finished:,} finished" + (f" of {' or '.join(limits)}" if limits else "") + ": "
        f"{payload['completed']:,} complete, {payload['failed']:,} failed, {payload['running']:,} running, "
        f"{payload['cached']:,} reused"
    )
    best = payload["best_reward"]
    print(
        f"  best reward {format_number(best)} (trial {payload['best_trial']})"
        if best is not None
        else "  no completed trial yet"
    )
    elapsed = format_seconds(payload["elapsed_seconds"])
    if payload["search_running"]:
        print(f"  search time {elapsed}, running now (this session {format_seconds(payload['session_seconds'])})")
    else:
        print(f"  search time {elapsed}")
    if payload["snapshot"] == "unreadable":
        print("  snapshot: unreadable (a resume rebuilds the strategy by replaying the trials)")
    elif payload["strategy_state"]:
        print("  strategy: " + ", ".join(f"{k} {format_number(v)}" for k, v in payload["strategy_state"].items()))
    if payload["failed"]:
        print(f"  {payload['failed']:,} failed; the most recent:")
        for failure in payload["recent_failures"]:
            print(f"    trial {failure['trial']}: {one_line(failure['failure'], 160)}")
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise NasnetError(f"-k must be >= 1, got {show(args.k)}")
    k = min(args.k, MAX_TOP)
    with open_experiment(args.directory) as store:
        best = store.best(k)
        failed_count = store.counts()["failed"]
        failures = _recent_failures(store, min(k, failed_count)) if failed_count else []
    rows = [
        {
            "rank": rank,
            "trial": t.number,
            "state": "complete",
            "reward": t.reward,
            "accuracy": t.accuracy,
            "params": t.metrics.get("params"),
            "mult_adds": t.metrics.get("mult_adds"),
            "hash": t.genotype_hash,
            "cached_from": t.cached_from,
            "seconds": t.seconds,
        }
        for rank, t in enumerate(best, start=1)
    ]
    if args.json:
        # The failed trials follow the ranked ones, unranked, with their reasons (the k most recent).
        failed_rows = [
            {"rank": None, "trial": f["trial"], "state": "failed", "reward": None, "failure": f["failure"]}
            for f in failures
        ]
        print(json.dumps(rows + failed_rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    from nasnet.search.progress import format_number

    table = Table(title=f"top {len(rows)} of {args.directory}")
    for column in ("rank", "trial", "reward", "accuracy", "params", "mult-adds", "hash"):
        table.add_column(column, justify="right" if column not in ("hash",) else "left")
    for row in rows:
        table.add_row(
            str(row["rank"]),
            str(row["trial"]),
            format_number(row["reward"]),
            format_number(row["accuracy"]),
            "-" if row["params"] is None else f"{int(row['params']):,}",
            "-" if row["mult_adds"] is None else f"{int(row['mult_adds']):,}",
            row["hash"],
        )
    console = Console()
    if rows:
        console.print(table)
    else:
        console.print(f"{args.directory}: no completed trial yet", highlight=False, markup=False, soft_wrap=True)
    if failed_count:
        latest = failures[0]
        console.print(
            f"{failed_count:,} trial(s) failed, most recently trial {latest['trial']}: "
            f"{one_line(latest['failure'], 120)} (nasnet status {args.directory} lists more)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    return 0


def _export_path(output: str, name: str) -> Path | None:
    """Where export writes: None for stdout (``-``), ``DIR/NAME.json`` for an existing directory."""
    if output == "-":
        return None
    if not output.strip():
        raise NasnetError("-o is empty: name a file, an existing directory, or - for stdout")
    path = Path(output)
    if path.is_dir():
        return path / f"{name}.json"
    if output.endswith(os.sep):
        raise NasnetError(f"-o {show(output)}: no such directory")
    return path


def cmd_export(args: argparse.Namespace) -> int:
    from nasnet.space.serialization import genotype_to_dict, save_genotype
    from nasnet.store import StoreError, TrialState

    with open_experiment(args.directory) as store:
        if args.best:
            best = store.best(1)
            if not best:
                raise StoreError(f"{args.directory}: no completed trial to export")
            trial = best[0]
        elif not 1 <= args.trial < 2**63:  # trials are numbered from 1; SQLite's integers are 64-bit
            raise StoreError(f"{args.directory}: no trial {show(args.trial)}")
        else:
            trial = store.get_trial(args.trial)
        config = store.config
    if trial.state != TrialState.COMPLETE:
        print(f"warning: trial {trial.number} is {trial.state}", file=sys.stderr)
    meta = {
        "experiment": str(Path(args.directory).resolve().name),
        "trial": trial.number,
        "reward": trial.reward,
        "accuracy": trial.accuracy,
        "params": trial.metrics.get("params"),
        "mult_adds": trial.metrics.get("mult_adds"),
        "genotype_hash": trial.genotype_hash,
        "strategy": config.strategy,
        "evaluator": config.evaluator,
    }
    name = f"{meta['experiment']}-trial{trial.number}"
    meta = {k: v for k, v in meta.items() if v is not None}
    target = _export_path(args.output, name)
    if target is None:
        print(json.dumps(genotype_to_dict(trial.genotype, name=name, meta=meta), indent=2))
        return 0
    path = save_genotype(trial.genotype, target, name=name, meta=meta)
    reward = "-" if trial.reward is None else f"{trial.reward:.4f}"
    print(f"wrote {path} (trial {trial.number}, reward {reward})")
    return 0
