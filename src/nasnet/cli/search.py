"""`nasnet search`: start or resume a search from the command line.

Every bad flag ends in one line (`nasnet CMD: error: ...`, exit status 2) before anything is
written: values are checked, flags that would be silently ignored are refused (a `--data` with
the synthetic evaluator, `--workers` with the in-process executor, `--trials-per-gpu` without a
GPU), and `--resume` refuses the flags that the experiment fixed when it was created.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from nasnet.cli.common import open_experiment, reward_name, show
from nasnet.cli.train import data_help, parse_assignments
from nasnet.errors import NasnetError, printable, short_repr
from nasnet.validation import check_int, check_number

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
    "evaluator_option": ("--evaluator-option", []),
    "reward_option": ("--reward-option", []),
}
TRAIN_ONLY = ("data", "preset", "set", "val_size", "image_size")
SYNTHETIC_ONLY = ("synthetic_delay", "synthetic_noise", "synthetic_fail_rate")
MNAS_ONLY = ("cost_metric", "cost_target")
MNAS_REWARDS = ("mnas-soft", "mnas-hard")  # the command line's two presets of the registered "mnas" reward
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


def reward_choices() -> list[str]:
    """--reward's choices: every registered reward kind, with mnas as its soft and hard presets."""
    from nasnet.evaluate import list_rewards

    return sorted({*(kind for kind in list_rewards() if kind != "mnas"), *MNAS_REWARDS})


def register(commands: argparse._SubParsersAction) -> None:
    from nasnet.evaluate import list_evaluators
    from nasnet.execution import list_executors
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
    search.add_argument("--evaluator", choices=list_evaluators(), help="default: train")
    search.add_argument(
        "--evaluator-option",
        action="append",
        metavar="KEY=VALUE",
        help="a field of the evaluator's spec (for evaluators without flags of their own, e.g. a plug-in's)",
    )
    search.add_argument("--data", help=data_help("dataset for --evaluator train"))
    search.add_argument("--preset", choices=list_presets(), help="child training recipe (default: search)")
    search.add_argument("--set", action="append", metavar="FIELD=VALUE", help="child training override")
    search.add_argument("--val-size", type=int, help="training images held out as the reward set (default: 5000)")
    search.add_argument("--image-size", type=int, help="resize ImageFolder images to this size")
    search.add_argument("--reward", choices=reward_choices(), help="default: accuracy")
    search.add_argument(
        "--reward-option", action="append", metavar="KEY=VALUE", help="a field of the reward's spec (plug-in rewards)"
    )
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
        choices=list_executors(),
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
    search.add_argument(
        "--tensorboard", metavar="DIR", help="also write TensorBoard scalars to DIR (may change on resume)"
    )
    search.add_argument("--no-progress", action="store_true")
    search.add_argument("--json", action="store_true", help="print the summary as JSON")
    search.set_defaults(handler=cmd_search)


# ---- checking the flags ----------------------------------------------------------------------


def _given(args: argparse.Namespace, dest: str) -> str:
    flag = FIXED_FLAGS[dest][0]
    value = getattr(args, dest)
    if value is True:
        return flag
    if isinstance(value, list):
        return " ".join(f"{flag} {show(v)}" for v in value)[:200]
    return f"{flag} {show(value)}"


def _parse(pairs: list[str], flag: str) -> dict[str, Any]:
    try:
        return parse_assignments(pairs, flag)
    except ValueError as err:  # e.g. an integer too long to convert
        raise NasnetError(f"{flag}: {printable(str(err), 160)}") from None


def _finite(flag: str, value: float | None, low: float, high: float | None = None, low_open: bool = False) -> None:
    if value is not None:
        shown = f"{flag} {show(value)}:"  # the command line's style: the flag as given, then what is wrong
        check_number(shown, value, positive=low_open, low=None if low_open else low, high=high, error=NasnetError)


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
        return f"reward {reward_name(reward)}"
    if dest in MNAS_ONLY:
        if reward.get("kind") != "mnas":
            return f"reward {reward_name(reward)} (no cost)"
        key = "metric" if dest == "cost_metric" else "target"
        return f"reward {reward_name(reward)} with cost {key} {short_repr(reward.get(key))}"
    if dest == "evaluator":
        return f"evaluator {evaluator.get('kind')}"
    if dest == "evaluator_option":
        return f"evaluator spec {short_repr(evaluator, 120)}"
    if dest == "reward_option":
        return f"reward spec {short_repr(reward, 120)}"
    field = EVALUATOR_FIELDS[dest]
    if field not in evaluator:
        return f"evaluator {evaluator.get('kind')} (no {FIXED_FLAGS[dest][0]})"
    return f"evaluator {evaluator.get('kind')} with {field} {short_repr(evaluator[field], 120)}"


def _refuse_fixed_flags(args: argparse.Namespace) -> None:
    """With --resume: refuse any flag that the experiment fixed at creation, naming the recorded value."""
    given = [dest for dest in FIXED_FLAGS if getattr(args, dest) is not None]
    if not given:
        return
    with open_experiment(args.resume) as store:
        config = store.config.to_dict()
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
        (MNAS_ONLY if reward not in MNAS_REWARDS else (), "--reward mnas-soft or mnas-hard"),
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

    if args.trials is not None:
        check_int(f"--trials {show(args.trials)}:", args.trials, 1, MAX_TRIALS, NasnetError)
    if args.hours is not None:
        check_number(f"--hours {show(args.hours)}:", args.hours, positive=True, error=NasnetError)
    for flag in ("--out", "--resume"):
        value = getattr(args, flag[2:])
        if value is not None and not value.strip():
            raise NasnetError(f"{flag} is empty: name the experiment directory")


def _evaluator_spec(args: argparse.Namespace) -> dict[str, Any]:
    fields = _parse(args.evaluator_option, "--evaluator-option")
    if args.evaluator not in ("synthetic", "train"):  # a plug-in: its spec is its kind and the fields given
        return {"kind": args.evaluator, **fields}
    if fields:
        raise NasnetError(
            f"--evaluator-option: --evaluator {args.evaluator} has flags of its own (see nasnet search --help)"
        )
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
    from nasnet.evaluate import MnasReward, reward_spec

    fields = _parse(args.reward_option, "--reward-option")
    if args.reward not in MNAS_REWARDS:
        return reward_spec({"kind": args.reward, **fields})
    if fields:
        raise NasnetError(f"--reward-option: --reward {args.reward} takes --cost-target and --cost-metric instead")
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

    from nasnet.search import search
    from nasnet.search.progress import LiveProgress

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
    if args.tensorboard is not None:
        from nasnet.report.tensorboard import SearchScalars, summary_writer
        from nasnet.search.views import Views

        scalars = SearchScalars(summary_writer(args.tensorboard))
        progress = scalars if progress is None else Views(progress, scalars)
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
