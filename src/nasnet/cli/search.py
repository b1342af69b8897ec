"""`nasnet search`, `nasnet status`, `nasnet top` and `nasnet export`.

Every bad flag ends in one line (`nasnet CMD: error: ...`, exit status 2) before anything is
written: values are checked, flags that would be silently ignored are refused (a `--data` with
the synthetic evaluator, `--workers` with the in-process executor, `--trials-per-gpu` without a
GPU), and `--resume` refuses the flags that the experiment fixed when it was created.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasnet.cli.train import parse_assignments
from nasnet.errors import NasnetError, printable, short_repr

# Flags fixed when an experiment is created, with their defaults for a new search. Their argparse
# default is None, so that a flag given with --resume (which refuses them) can be told from one
# left out; `_new_search_settings` fills these defaults in for a new search.
FIXED_FLAGS: dict[str, tuple[str, Any]] = {
    "strategy": ("--strategy", "rl"),
    "option": ("--option", []),
    "seed": ("--seed", 0),
    "reward": ("--reward", "accuracy"),
    "cost_metric": ("--cost-metric", "mult_adds"),
    "cost_target": ("--cost-target", None),
    "no_dedup": ("--no-dedup", False),
    "evaluator": ("--evaluator", "train"),
    "data": ("--data", None),
    "preset": ("--preset", "search"),
    "set": ("--set", []),
    "val_size": ("--val-size", 5000),
    "image_size": ("--image-size", None),
    "synthetic_delay": ("--synthetic-delay", 0.0),
    "synthetic_noise": ("--synthetic-noise", 0.0),
    "synthetic_fail_rate": ("--synthetic-fail-rate", 0.0),
}
TRAIN_ONLY = ("data", "preset", "set", "val_size", "image_size")
SYNTHETIC_ONLY = ("synthetic_delay", "synthetic_noise", "synthetic_fail_rate")
MNAS_ONLY = ("cost_metric", "cost_target")
# The evaluator-spec field that each evaluator flag sets.
EVALUATOR_FIELDS = {
    "data": "data",
    "preset": "preset",
    "set": "overrides",
    "val_size": "val_size",
    "image_size": "image_size",
    "synthetic_delay": "delay",
    "synthetic_noise": "noise",
    "synthetic_fail_rate": "fail_rate",
}
MAX_SYNTHETIC_DELAY = 3600.0
MAX_TOP = 2**62  # SQLite's LIMIT takes 64-bit integers; -k beyond this is "all of them"
RECENT_FAILURES = 3


def register(commands: argparse._SubParsersAction) -> None:
    from nasnet.search.strategy import list_strategies
    from nasnet.train.config import list_presets

    search = commands.add_parser(
        "search",
        help="search for a cell pair (or continue a search with --resume)",
        description="Search the NASNet space. Every trial is stored in OUT/experiment.db; "
        "`nasnet search --resume OUT` continues after any interruption. With --resume only the budget "
        "(--trials, --hours) and the execution flags may be given: the others are fixed by the experiment.",
    )
    search.add_argument("--strategy", choices=list_strategies(), help="default: rl (the paper's)")
    search.add_argument("--trials", type=int, help="trials to finish (cached duplicates count)")
    search.add_argument("--hours", type=float, help="stop proposing after this much search time")
    target = search.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="experiment directory for a new search")
    target.add_argument("--resume", metavar="DIR", help="continue the search in DIR")
    search.add_argument(
        "--overwrite",
        action="store_true",
        help="with --out: replace the experiment already in OUT, deleting its trials (never a damaged one)",
    )
    search.add_argument("--evaluator", choices=("train", "synthetic"), help="default: train")
    search.add_argument("--data", help="dataset for --evaluator train: cifar10, cifar100 or a path")
    search.add_argument("--preset", choices=list_presets(), help="child training recipe (default: search)")
    search.add_argument("--set", action="append", metavar="FIELD=VALUE", help="child training override")
    search.add_argument("--val-size", type=int, help="training images held out as the reward set (default: 5000)")
    search.add_argument("--image-size", type=int, help="resize ImageFolder images to this size")
    search.add_argument("--reward", choices=("accuracy", "mnas-soft", "mnas-hard"), help="default: accuracy")
    search.add_argument("--cost-metric", choices=("mult_adds", "params"), help="default: mult_adds")
    search.add_argument("--cost-target", type=float, help="T in ACC x (COST/T)^w (required for mnas rewards)")
    search.add_argument("--option", action="append", metavar="KEY=VALUE", help="strategy option")
    search.add_argument("--seed", type=int, help="default: 0")
    search.add_argument("--no-dedup", action="store_true", default=None, help="train equivalent genotypes again")
    search.add_argument("--synthetic-delay", type=float, help="seconds per synthetic trial (default: 0)")
    search.add_argument("--synthetic-noise", type=float, help="noise added to synthetic rewards (default: 0)")
    search.add_argument(
        "--synthetic-fail-rate", type=float, help="fraction of genotypes whose synthetic trial fails (default: 0)"
    )
    execution = search.add_argument_group("execution (these may change on resume)")
    execution.add_argument(
        "--executor",
        choices=("local", "inprocess", "ray"),
        default="local",
        help="local worker pool (default), this process, or a Ray cluster",
    )
    execution.add_argument("--workers", type=int, help="worker processes (default: one per GPU, else 1)")
    execution.add_argument(
        "--trials-per-gpu", type=int, help="local executor on GPUs: children packed on each GPU (default: 1)"
    )
    execution.add_argument("--address", help="Ray cluster: auto or HOST:PORT (default: start a local Ray)")
    execution.add_argument("--cpus-per-trial", type=float, help="Ray: CPUs per trial (default: 1)")
    execution.add_argument("--gpus-per-trial", type=float, help="Ray: GPUs per trial (default: 1 if any)")
    execution.add_argument("--trial-timeout", type=float, help="fail a trial that runs longer (seconds)")
    execution.add_argument("--max-attempts", type=int, help="runs of a trial whose worker dies (default: 3)")
    execution.add_argument(
        "--device", help="device of the in-process executor or of every local worker (default: cuda when available)"
    )
    search.add_argument("--no-progress", action="store_true")
    search.add_argument("--json", action="store_true", help="print the summary as JSON")
    search.set_defaults(handler=cmd_search)

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


# ---- checking the flags ----------------------------------------------------------------------


def _show(value: Any) -> str:
    """A flag's value as given on the command line, cut and escaped."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return printable(str(value), 80)


def _given(args: argparse.Namespace, dest: str) -> str:
    flag = FIXED_FLAGS[dest][0]
    value = getattr(args, dest)
    if value is True:
        return flag
    if isinstance(value, list):
        return " ".join(f"{flag} {_show(v)}" for v in value)[:200]
    return f"{flag} {_show(value)}"


def _parse(pairs: list[str], flag: str) -> dict[str, Any]:
    try:
        return parse_assignments(pairs, flag)
    except ValueError as err:  # e.g. an integer too long to convert
        raise NasnetError(f"{flag}: {printable(str(err), 160)}") from None


def _finite(flag: str, value: float | None, low: float, high: float = math.inf, low_open: bool = False) -> None:
    if value is None:
        return
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        if math.isfinite(high):
            bound += f" and <= {high:g}"
        raise NasnetError(f"{flag} {_show(value)}: must be a finite number {bound}")


def _reward_name(spec: dict[str, Any]) -> str:
    if spec.get("kind") != "mnas":
        return str(spec.get("kind"))
    hard = spec.get("alpha") == 0 and spec.get("beta") == -1
    return "mnas-hard" if hard else "mnas-soft"


def _recorded(config: dict[str, Any], dest: str) -> str:
    """What the experiment recorded for the setting that flag ``dest`` would change."""
    evaluator = config.get("evaluator") or {}
    reward = config.get("reward") or {}
    if dest == "strategy":
        return f"strategy {config.get('strategy')}"
    if dest == "option":
        options = config.get("strategy_options") or {}
        return f"strategy options {short_repr(options, 120)}" if options else "no strategy options"
    if dest == "seed":
        return f"seed {short_repr(config.get('seed'))}"
    if dest == "no_dedup":
        return "dedup " + ("on" if config.get("dedup", True) else "off")
    if dest == "reward":
        return f"reward {_reward_name(reward)}"
    if dest in MNAS_ONLY:
        if reward.get("kind") != "mnas":
            return f"reward {_reward_name(reward)} (no cost)"
        key = "metric" if dest == "cost_metric" else "target"
        return f"reward {_reward_name(reward)} with cost {key} {short_repr(reward.get(key))}"
    if dest == "evaluator":
        return f"evaluator {evaluator.get('kind')}"
    field = EVALUATOR_FIELDS[dest]
    if field not in evaluator:
        return f"evaluator {evaluator.get('kind')} (no {FIXED_FLAGS[dest][0]})"
    return f"evaluator {evaluator.get('kind')} with {field} {short_repr(evaluator[field], 120)}"


def _refuse_fixed_flags(args: argparse.Namespace) -> None:
    """With --resume: refuse any flag that the experiment fixed at creation, naming the recorded value."""
    given = [dest for dest in FIXED_FLAGS if getattr(args, dest) is not None]
    if not given:
        return
    with _open(args.resume) as store:
        config = store.config
    dest = given[0]
    raise NasnetError(
        f"{_given(args, dest)}: {args.resume} was created with {_recorded(config, dest)}, and that cannot change "
        "on resume (only --trials, --hours and the execution flags can); start a new search with --out for another"
    )


def _new_search_settings(args: argparse.Namespace) -> None:
    """Check the flags of a new search against each other, then fill in the defaults of those left out."""
    evaluator = args.evaluator or FIXED_FLAGS["evaluator"][1]
    reward = args.reward or FIXED_FLAGS["reward"][1]
    for dests, applies in (
        (TRAIN_ONLY if evaluator != "train" else (), "--evaluator train"),
        (SYNTHETIC_ONLY if evaluator != "synthetic" else (), "--evaluator synthetic"),
        (MNAS_ONLY if reward == "accuracy" else (), "--reward mnas-soft or mnas-hard"),
    ):
        for dest in dests:
            if getattr(args, dest) is not None:
                current = f"--evaluator {evaluator}" if dest not in MNAS_ONLY else f"--reward {reward}"
                raise NasnetError(f"{_given(args, dest)}: applies to {applies} only, and this search has {current}")
    for dest, (_, default) in FIXED_FLAGS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, list(default) if isinstance(default, list) else default)
    if args.trials is None and args.hours is None:
        raise NasnetError("give a budget: --trials N and/or --hours H")
    _finite("--synthetic-delay", args.synthetic_delay, 0.0, MAX_SYNTHETIC_DELAY)
    _finite("--synthetic-noise", args.synthetic_noise, 0.0)
    _finite("--synthetic-fail-rate", args.synthetic_fail_rate, 0.0, 1.0)
    _finite("--cost-target", args.cost_target, 0.0, low_open=True)


def _check_budget(args: argparse.Namespace) -> None:
    """The budget flags, checked before anything starts (search() checks them again for Python callers)."""
    from nasnet.search.loop import MAX_TRIALS

    if args.trials is not None and not 1 <= args.trials <= MAX_TRIALS:
        raise NasnetError(f"--trials {_show(args.trials)}: must be an integer from 1 to {MAX_TRIALS:,}")
    if args.hours is not None and not (math.isfinite(args.hours) and args.hours > 0):
        raise NasnetError(f"--hours {_show(args.hours)}: must be a finite number > 0")
    for flag in ("--out", "--resume"):
        value = getattr(args, flag[2:])
        if value is not None and not value.strip():
            raise NasnetError(f"{flag} is empty: name the experiment directory")


def _evaluator_spec(args: argparse.Namespace) -> dict[str, Any]:
    if args.evaluator == "synthetic":
        spec = {"kind": "synthetic", "delay": args.synthetic_delay, "noise": args.synthetic_noise}
        if args.synthetic_fail_rate:
            spec["fail_rate"] = args.synthetic_fail_rate
        return spec
    if not args.data:
        raise NasnetError("--data is required with --evaluator train (or use --evaluator synthetic)")
    from nasnet.evaluate import TrainingEvaluator

    evaluator = TrainingEvaluator(
        args.data, args.preset, _parse(args.set, "--set"), val_size=args.val_size, image_size=args.image_size
    )
    return evaluator.spec()


def _reward_spec(args: argparse.Namespace) -> dict[str, Any]:
    if args.reward == "accuracy":
        return {"kind": "accuracy"}
    from nasnet.evaluate import MnasReward, reward_spec

    if args.cost_target is None:
        raise NasnetError(f"--reward {args.reward} needs --cost-target T")
    constraint = MnasReward.soft if args.reward == "mnas-soft" else MnasReward.hard
    return reward_spec(constraint(args.cost_target, args.cost_metric))


def make_executor(args: argparse.Namespace) -> Any:
    """The executor the flags ask for; a flag that executor would ignore is refused (see `check_options`)."""
    from nasnet.execution import MAX_WORKERS, check_device
    from nasnet.execution import make_executor as build

    given = {
        "workers": args.workers,
        "trials_per_gpu": args.trials_per_gpu,
        "address": args.address,
        "num_cpus_per_trial": args.cpus_per_trial,
        "num_gpus_per_trial": args.gpus_per_trial,
        "trial_timeout": args.trial_timeout,
        "max_attempts": args.max_attempts,
    }
    options = {key: value for key, value in given.items() if value is not None}
    if args.device is not None:
        check_device(args.device)
        if args.executor == "local":
            workers = args.workers if isinstance(args.workers, int) and 1 <= args.workers <= MAX_WORKERS else 1
            options["devices"] = [args.device] * workers
        else:
            options["device"] = args.device
    return build(args.executor, **options)


@contextlib.contextmanager
def _warnings_in_one_line(command: str) -> Iterator[None]:
    """Warnings (a `SnapshotWarning`...) as one line on stderr, for as long as the command runs."""

    def show(message: Any, category: type[Warning], *rest: Any, **kwargs: Any) -> None:
        text = " ".join(str(message).split())
        print(f"{command}: warning: {printable(text, 1000)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def cmd_search(args: argparse.Namespace) -> int:
    from rich.console import Console

    from nasnet.report.progress import LiveProgress
    from nasnet.search import search

    _check_budget(args)
    if args.resume:
        if args.overwrite:
            raise NasnetError("--overwrite goes with --out (it replaces an experiment); --resume continues one")
        _refuse_fixed_flags(args)
    else:
        _new_search_settings(args)
    executor = make_executor(args)
    # With --json, stdout holds the summary alone: the live view goes to stderr.
    progress = None if args.no_progress else LiveProgress(Console(stderr=True) if args.json else None)
    common: dict[str, Any] = {"trials": args.trials, "hours": args.hours, "executor": executor, "progress": progress}
    with _warnings_in_one_line("nasnet search"):
        if args.resume:
            summary = search(out=args.resume, resume=True, **common)
        else:
            summary = search(
                args.strategy,
                out=args.out,
                evaluator=_evaluator_spec(args),
                reward=_reward_spec(args),
                seed=args.seed,
                strategy_options=_parse(args.option, "--option"),
                dedup=not args.no_dedup,
                overwrite=args.overwrite,
                **common,
            )
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
        return 0
    best = summary.best
    counts = summary.counts
    print(
        f"{summary.directory}: {counts['complete']} complete, {counts['failed']} failed "
        f"({counts['cached']} reused); stopped by {summary.stopped}"
    )
    if counts["failed"]:
        print(f"failures: see nasnet status {summary.directory}")
    if best is not None:
        export = f"nasnet export {summary.directory} --best -o cell.json"
        print(f"best: trial {best.number}, reward {best.reward:.4f} ({export})")
    return 0


# ---- reading an experiment ---------------------------------------------------------------------


def _open(directory: str):
    from nasnet.store import ExperimentStore

    return ExperimentStore.open(directory, readonly=True)


def one_line(text: str | None, limit: int = 200) -> str:
    """A failure reason on one line, escaped and cut."""
    return printable(" ".join(str(text or "unknown").split()), limit)


def _recent_failures(store: Any, count: int) -> list[dict[str, Any]]:
    """The ``count`` most recently finished failed trials: number and reason (one line each)."""
    from nasnet.store.sqlite import STATUS_FAILED

    failed = sorted(store.trials(STATUS_FAILED), key=lambda t: (t.finished_at or 0.0, t.number), reverse=True)
    return [
        {"trial": t.number, "failure": one_line(t.failure), "cached_from": t.cached_from, "finished_at": t.finished_at}
        for t in failed[:count]
    ]


def _strategy_state(store: Any, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """("ok", the strategy's figures), ("none", {}) before the first snapshot, or ("unreadable", {})."""
    from nasnet.search.loop import space_from_spec
    from nasnet.search.strategy import make_strategy

    snapshot = store.load_snapshot()  # a damaged database is reported as such, by the store
    if snapshot is None:
        return "none", {}
    try:
        space = space_from_spec(config["space"])
        strategy = make_strategy(config["strategy"], space, config["seed"], **config["strategy_options"])
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
    from nasnet.store.sqlite import LOCK_FILE

    lock = Path(directory) / LOCK_FILE
    try:
        stat = lock.stat()
    except OSError:
        return None
    if not _lock_held(lock, stat):
        return None
    return max(0.0, time.time() - stat.st_mtime)


def _status_payload(directory: str) -> dict[str, Any]:
    with _open(directory) as store:
        config = store.config
        counts = store.counts()
        best = store.best(1)
        snapshot, strategy_info = _strategy_state(store, config)
        failures = _recent_failures(store, RECENT_FAILURES)
        stored_seconds = store.elapsed_seconds
    session = running_session_seconds(directory)
    trials = config.get("trials")
    return {
        "directory": directory,
        "strategy": config.get("strategy"),
        "budget": {
            "trials": trials if isinstance(trials, int) and trials < 2**60 else None,
            "hours": config.get("hours"),
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
        "evaluator": config.get("evaluator"),
        "reward": config.get("reward"),
        "snapshot": snapshot,
        "strategy_state": strategy_info,
    }


def cmd_status(args: argparse.Namespace) -> int:
    payload = _status_payload(args.directory)
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    from nasnet.report.progress import format_number, format_seconds

    evaluator = (payload["evaluator"] or {}).get("kind", "?")
    reward = _reward_name(payload["reward"] or {})
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
        raise NasnetError(f"-k must be >= 1, got {_show(args.k)}")
    k = min(args.k, MAX_TOP)
    with _open(args.directory) as store:
        best = store.best(k)
        failed_count = store.counts()["failed"]
        failures = _recent_failures(store, min(k, failed_count)) if failed_count else []
    rows = [
        {
            "rank": rank,
            "trial": t.number,
            "status": "complete",
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
            {"rank": None, "trial": f["trial"], "status": "failed", "reward": None, "failure": f["failure"]}
            for f in failures
        ]
        print(json.dumps(rows + failed_rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    from nasnet.report.progress import format_number

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
        raise NasnetError(f"-o {_show(output)}: no such directory")
    return path


def cmd_export(args: argparse.Namespace) -> int:
    from nasnet.space.serialization import genotype_to_dict, save_genotype
    from nasnet.store import StoreError

    with _open(args.directory) as store:
        if args.best:
            best = store.best(1)
            if not best:
                raise StoreError(f"{args.directory}: no completed trial to export")
            trial = best[0]
        elif not 1 <= args.trial < 2**63:  # trials are numbered from 1; SQLite's integers are 64-bit
            raise StoreError(f"{args.directory}: no trial {_show(args.trial)}")
        else:
            trial = store.get_trial(args.trial)
        config = store.config
    if trial.status != "complete":
        print(f"warning: trial {trial.number} is {trial.status}", file=sys.stderr)
    meta = {
        "experiment": str(Path(args.directory).resolve().name),
        "trial": trial.number,
        "reward": trial.reward,
        "accuracy": trial.accuracy,
        "params": trial.metrics.get("params"),
        "mult_adds": trial.metrics.get("mult_adds"),
        "genotype_hash": trial.genotype_hash,
        "strategy": config.get("strategy"),
        "evaluator": config.get("evaluator"),
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
