"""`nasnet search`, `nasnet status`, `nasnet top` and `nasnet export`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nasnet.cli.train import parse_assignments
from nasnet.errors import NasnetError


def register(commands: argparse._SubParsersAction) -> None:
    from nasnet.search.strategy import list_strategies
    from nasnet.train.config import list_presets

    search = commands.add_parser(
        "search",
        help="search for a cell pair (or continue a search with --resume)",
        description="Search the NASNet space. Every trial is stored in OUT/experiment.db; "
        "`nasnet search --resume OUT` continues after any interruption.",
    )
    search.add_argument("--strategy", choices=list_strategies(), default="rl", help="default: rl (the paper's)")
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
    search.add_argument("--evaluator", choices=("train", "synthetic"), default="train")
    search.add_argument("--data", help="dataset for --evaluator train: cifar10, cifar100 or a path")
    search.add_argument("--preset", default="search", choices=list_presets(), help="child training recipe")
    search.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="child training override")
    search.add_argument("--val-size", type=int, default=5000, help="training images held out as the reward set")
    search.add_argument("--image-size", type=int, help="resize ImageFolder images to this size")
    search.add_argument("--reward", choices=("accuracy", "mnas-soft", "mnas-hard"), default="accuracy")
    search.add_argument("--cost-metric", choices=("mult_adds", "params"), default="mult_adds")
    search.add_argument("--cost-target", type=float, help="T in ACC x (COST/T)^w (required for mnas rewards)")
    search.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="strategy option")
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--no-dedup", action="store_true", help="train equivalent genotypes again")
    search.add_argument("--synthetic-delay", type=float, default=0.0, help="seconds per synthetic trial")
    search.add_argument("--synthetic-noise", type=float, default=0.0)
    execution = search.add_argument_group("execution")
    execution.add_argument(
        "--executor",
        choices=("local", "inprocess", "ray"),
        default="local",
        help="local worker pool (default), this process, or a Ray cluster",
    )
    execution.add_argument("--workers", type=int, help="worker processes (default: one per GPU, else 1)")
    execution.add_argument("--trials-per-gpu", type=int, default=1, help="children packed on each GPU")
    execution.add_argument("--address", help="Ray cluster: auto or HOST:PORT (default: start a local Ray)")
    execution.add_argument("--cpus-per-trial", type=float, default=1.0, help="Ray: CPUs per trial")
    execution.add_argument("--gpus-per-trial", type=float, help="Ray: GPUs per trial (default: 1 if any)")
    execution.add_argument("--trial-timeout", type=float, help="fail a trial that runs longer (seconds)")
    execution.add_argument("--max-attempts", type=int, default=3, help="runs of a trial whose worker dies")
    execution.add_argument("--device", help="in-process executor's device (default: cuda when available)")
    search.add_argument("--no-progress", action="store_true")
    search.add_argument("--json", action="store_true", help="print the summary as JSON")
    search.set_defaults(handler=cmd_search)

    status = commands.add_parser("status", help="counts of complete, failed and running trials, and the best reward")
    status.add_argument("directory")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    top = commands.add_parser("top", help="the best trials of an experiment")
    top.add_argument("directory")
    top.add_argument("-k", type=int, default=10)
    top.add_argument("--json", action="store_true")
    top.set_defaults(handler=cmd_top)

    export = commands.add_parser("export", help="write a trial's genotype as JSON for `nasnet train --arch`")
    export.add_argument("directory")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int)
    which.add_argument("--best", action="store_true", help="the trial with the highest reward")
    export.add_argument("-o", "--output", required=True)
    export.set_defaults(handler=cmd_export)


def _evaluator_spec(args: argparse.Namespace) -> dict[str, Any]:
    if args.evaluator == "synthetic":
        return {"kind": "synthetic", "delay": args.synthetic_delay, "noise": args.synthetic_noise}
    if not args.data:
        raise NasnetError("--data is required with --evaluator train (or use --evaluator synthetic)")
    from nasnet.search.evaluators import TrainingEvaluator

    evaluator = TrainingEvaluator(
        args.data, args.preset, parse_assignments(args.set), val_size=args.val_size, image_size=args.image_size
    )
    return evaluator.spec()


def _reward_spec(args: argparse.Namespace) -> dict[str, Any]:
    if args.reward == "accuracy":
        return {"kind": "accuracy"}
    from nasnet.search.rewards import MnasReward, reward_spec

    if args.cost_target is None:
        raise NasnetError(f"--reward {args.reward} needs --cost-target T")
    constraint = MnasReward.soft if args.reward == "mnas-soft" else MnasReward.hard
    return reward_spec(constraint(args.cost_target, args.cost_metric))


def make_executor(args: argparse.Namespace) -> Any:
    from nasnet.execution import make_executor as build

    if args.executor == "inprocess":
        return build("inprocess", device=args.device)
    common = {"max_attempts": args.max_attempts, "trial_timeout": args.trial_timeout}
    if args.executor == "local":
        devices = [args.device] * (args.workers or 1) if args.device else None
        return build("local", workers=args.workers, trials_per_gpu=args.trials_per_gpu, devices=devices, **common)
    return build(
        "ray",
        address=args.address,
        workers=args.workers,
        num_cpus_per_trial=args.cpus_per_trial,
        num_gpus_per_trial=args.gpus_per_trial,
        **common,
    )


def cmd_search(args: argparse.Namespace) -> int:
    from nasnet.report.progress import LiveProgress
    from nasnet.search import search

    progress = None if args.no_progress else LiveProgress()
    common: dict[str, Any] = {
        "trials": args.trials,
        "hours": args.hours,
        "executor": make_executor(args),
        "progress": progress,
    }
    if args.resume:
        if args.overwrite:
            raise NasnetError("--overwrite goes with --out (it replaces an experiment); --resume continues one")
        summary = search(out=args.resume, resume=True, **common)
    else:
        if args.trials is None and args.hours is None:
            raise NasnetError("give a budget: --trials N and/or --hours H")
        summary = search(
            args.strategy,
            out=args.out,
            evaluator=_evaluator_spec(args),
            reward=_reward_spec(args),
            seed=args.seed,
            strategy_options=parse_assignments(args.option, "--option"),
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
    if best is not None:
        export = f"nasnet export {summary.directory} --best -o cell.json"
        print(f"best: trial {best.number}, reward {best.reward:.4f} ({export})")
    return 0


def _open(directory: str):
    from nasnet.store import ExperimentStore

    return ExperimentStore.open(directory, readonly=True)


def _status_payload(directory: str) -> dict[str, Any]:
    from nasnet.search.loop import space_from_spec
    from nasnet.search.strategy import make_strategy

    with _open(directory) as store:
        config = store.config
        counts = store.counts()
        best = store.best(1)
        snapshot = store.load_snapshot()
        strategy_info: dict[str, Any] = {}
        if snapshot is not None:
            space = space_from_spec(config["space"])
            strategy = make_strategy(config["strategy"], space, config["seed"], **config["strategy_options"])
            strategy.load_bytes(snapshot.state)
            strategy_info = strategy.describe()
        return {
            "directory": directory,
            "strategy": config["strategy"],
            "budget": {"trials": config["trials"] if config["trials"] < 2**60 else None, "hours": config.get("hours")},
            "completed": counts["complete"],
            "failed": counts["failed"],
            "running": counts["running"] + counts["waiting"],
            "cached": counts["cached"],
            "best_reward": best[0].reward if best else None,
            "best_trial": best[0].number if best else None,
            "elapsed_seconds": store.elapsed_seconds,
            "evaluator": config["evaluator"],
            "reward": config["reward"],
            "strategy_state": strategy_info,
        }


def cmd_status(args: argparse.Namespace) -> int:
    payload = _status_payload(args.directory)
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    from nasnet.report.progress import format_seconds

    budget = payload["budget"]["trials"]
    print(f"{payload['directory']}: {payload['strategy']} search, evaluator {payload['evaluator']['kind']}")
    print(
        f"  completed {payload['completed']}, failed {payload['failed']}, running {payload['running']}, "
        f"reused {payload['cached']}" + (f" of {budget}" if budget else "")
    )
    best = payload["best_reward"]
    print(
        f"  best reward {best:.4f} (trial {payload['best_trial']})" if best is not None else "  no completed trial yet"
    )
    print(f"  search time {format_seconds(payload['elapsed_seconds'])}")
    if payload["strategy_state"]:
        print("  strategy: " + ", ".join(f"{k}={v}" for k, v in payload["strategy_state"].items()))
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise NasnetError(f"-k must be >= 1, got {args.k}")
    with _open(args.directory) as store:
        best = store.best(args.k)
    rows = [
        {
            "rank": rank,
            "trial": t.number,
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
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"top {args.k} of {args.directory}")
    for column in ("rank", "trial", "reward", "accuracy", "params", "mult-adds", "hash"):
        table.add_column(column, justify="right" if column not in ("hash",) else "left")
    for row in rows:
        table.add_row(
            str(row["rank"]),
            str(row["trial"]),
            f"{row['reward']:.4f}",
            "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}",
            "-" if row["params"] is None else f"{int(row['params']):,}",
            "-" if row["mult_adds"] is None else f"{int(row['mult_adds']):,}",
            row["hash"],
        )
    Console().print(table)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from nasnet.space.serialization import save_genotype
    from nasnet.store import StoreError

    with _open(args.directory) as store:
        if args.best:
            best = store.best(1)
            if not best:
                raise StoreError(f"{args.directory}: no completed trial to export")
            trial = best[0]
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
    path = save_genotype(trial.genotype, args.output, name=name, meta={k: v for k, v in meta.items() if v is not None})
    print(f"wrote {path} (trial {trial.number}, reward {trial.reward})")
    return 0
