"""`nasnet report` and `nasnet compare`: an HTML report of experiments, and Figure 6's figures at matched budgets.

Both read experiments without their lock, so they work while a search runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nasnet.cli.common import show
from nasnet.errors import NasnetError

MAX_TOP = 200  # each listed trial's cells are laid out by dot (tens of ms each) and add ~35 kB to the page


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="write one self-contained HTML report (progress as in Figure 6, cost, top cells, what was learned, "
        "failures and timing) of one or more experiments",
    )
    report.add_argument(
        "directories",
        nargs="+",
        metavar="DIR",
        help="experiment directories; the first is the reference that the others are compared with",
    )
    report.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default: report.html)")
    report.add_argument(
        "--top",
        type=int,
        default=10,
        help=f"how many of the best trials to list and draw, at most {MAX_TOP} (default: 10)",
    )
    report.set_defaults(handler=cmd_report)

    compare = commands.add_parser(
        "compare",
        help="the best reward and the mean reward of the top 1/5/25/100 unique models at matched numbers of "
        "trials (as Figure 6 plots them), and each experiment's difference from the first",
    )
    compare.add_argument(
        "directories", nargs="+", metavar="DIR", help="experiment directories; the first is the reference"
    )
    compare.add_argument(
        "--budgets",
        metavar="N,N,...",
        help="numbers of trials to compare at (default: 100, 250, 500, 1000, ... below the smallest experiment's "
        "count, and that count)",
    )
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(handler=cmd_compare)


def _session_seconds(directories: list[str]) -> list[float | None]:
    """How long the search now running in each directory has run (None where none is)."""
    from nasnet.cli.experiment import running_session_seconds

    return [running_session_seconds(d) for d in directories]


def cmd_report(args: argparse.Namespace) -> int:
    from nasnet.report.figures import require_matplotlib
    from nasnet.report.html import check_output, write_report

    if not 1 <= args.top <= MAX_TOP:
        raise NasnetError(f"--top must be from 1 to {MAX_TOP}, got {show(args.top)}")
    check_output(args.output)  # before reading anything: a bad -o should not wait for the experiments
    require_matplotlib()
    path = write_report(args.directories, args.output, session_seconds=_session_seconds(args.directories), top=args.top)
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1e6:.1f} MB, {len(args.directories)} experiment(s))")
    return 0


def parse_budgets(text: str | None) -> list[int] | None:
    """``--budgets 100,250,1000`` as numbers of trials; None without the flag."""
    if text is None:
        return None
    budgets = []
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise NasnetError(f"--budgets {show(text)}: {show(part)} is not a whole number of trials") from None
        if value < 1:
            raise NasnetError(f"--budgets {show(text)}: budgets are numbers of trials >= 1, got {value}")
        budgets.append(value)
    if not budgets:
        raise NasnetError(f"--budgets {show(text)}: give numbers of trials, e.g. --budgets 100,500,1000")
    return budgets


def comparison_payload(directories: list[str], budgets: list[int] | None) -> dict[str, Any]:
    """What `nasnet compare --json` prints: the experiments, the budgets and one row per budget and experiment."""
    from nasnet.report.analysis import compare_at_budgets, load_experiment, progress_curves, unique_labels

    labels = unique_labels(directories)
    experiments = [load_experiment(d, label) for d, label in zip(directories, labels, strict=True)]
    curves = [progress_curves(e.trials, e.label) for e in experiments]
    payload = compare_at_budgets(curves, budgets).to_dict()
    for entry, e in zip(payload["experiments"], experiments, strict=True):
        entry.update(
            directory=e.directory,
            strategy=e.config.strategy,
            complete=e.counts["complete"],
            failed=e.counts["failed"],
            reward=e.config.reward,
        )
    smallest = min((e["settled"] for e in payload["experiments"]), default=0)
    payload["left_out"] = sorted(b for b in budgets or () if b > smallest)
    return payload


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _difference(value: float | None) -> str:
    if value is None:
        return "-"
    colour = "green" if value > 0 else "red" if value < 0 else "default"
    return f"[{colour}]{value:+.4f}[/]"


def cmd_compare(args: argparse.Namespace) -> int:
    payload = comparison_payload(args.directories, parse_budgets(args.budgets))
    if payload["left_out"]:
        smallest = min(e["settled"] for e in payload["experiments"])
        print(
            f"warning: budgets {', '.join(map(str, payload['left_out']))} left out: the smallest experiment has "
            f"{smallest:,} finished trials",
            file=sys.stderr,
        )
    rewards = {json.dumps(e["reward"], sort_keys=True) for e in payload["experiments"]}
    if len(rewards) > 1:
        print(
            "warning: the experiments use different rewards: their differences compare unlike quantities",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not payload["rows"]:
        empty = [e["label"] for e in payload["experiments"] if e["settled"] == 0]
        why = f"{', '.join(empty)} has no finished trials yet" if empty else "no budget within every experiment"
        console.print(f"nothing to compare: {why}", markup=False, highlight=False, soft_wrap=True)
        return 0
    statistics = payload["statistics"]
    reference = payload["reference"]
    title = "best reward and mean reward of the top k unique models after the first n trials"
    table = Table(title=title)
    table.add_column("trials", justify="right")
    table.add_column("experiment")
    for statistic in statistics:
        table.add_column(statistic.replace("_", " "), justify="right")
    previous = None
    for row in payload["rows"]:
        if previous is not None and row["budget"] != previous and len(payload["experiments"]) > 1:
            table.add_section()
        previous = row["budget"]
        table.add_row(f"{row['budget']:,}", escape(row["experiment"]), *(_figure(row[s]) for s in statistics))
        if row["difference"] is not None:  # on a line of its own, so the table fits a terminal
            table.add_row(
                "", f"  − {escape(reference)}", *(_difference(row["difference"][s]) for s in statistics), style="dim"
            )
    console.print(table)
    for e in payload["experiments"]:
        settled = "" if e["settled"] == e["trials"] else f"; the first {e['settled']:,} all finished"
        console.print(
            f"{e['label']}: {e['strategy']}, {e['trials']:,} trials ({e['complete']:,} complete, {e['failed']:,} "
            f"failed{settled}), {e['directory']}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return 0


__all__ = ["cmd_compare", "cmd_report", "comparison_payload", "parse_budgets", "register"]
