"""A live view of a running search: trials, best reward, rate, ETA and every worker."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from nasnet.errors import printable


def format_seconds(seconds: float | None) -> str:
    """``H:MM:SS``; "-" for None or NaN, and a count of hours beyond a million hours (or infinity)."""
    if seconds is None or seconds != seconds:
        return "-"
    if seconds >= 3600e6:
        return f"{seconds / 3600:.3g} h"
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _format_value(value: Any) -> str:
    if value is None:  # e.g. the controller's entropy before its first update
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_number(value: Any, digits: int = 4) -> str:
    """A figure for people: floats to ``digits`` decimals (rewards, accuracies, baselines), very large or
    very small ones in 4 significant digits, integers with thousands separators, None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value == 0 or 1e-4 <= abs(value) < 1e6:
            return f"{value:.{digits}f}"
        return f"{value:.4g}"
    return printable(str(value), 80)


def render_state(state: Any) -> Group:
    counts = state.counts
    finished = state.finished
    header = Text()
    header.append(f"search {state.strategy}", style="bold")
    header.append(f"  {state.directory}\n")
    header.append(f"{finished}/{state.budget if state.budget < 2**60 else '∞'} trials")
    header.append(
        f"  (complete {counts.get('complete', 0)}, failed {counts.get('failed', 0)}, "
        f"cached {counts.get('cached', 0)}, running {counts.get('running', 0)})\n"
    )
    best = "-" if state.best_reward is None else f"{state.best_reward:.4f} (trial {state.best_trial})"
    header.append(f"best reward {best}  ·  {state.trials_per_second:.2f} trials/s  ·  ")
    header.append(f"elapsed {format_seconds(state.session_seconds)}  ·  ETA {format_seconds(state.eta_seconds)}")
    info = ", ".join(f"{k} {_format_value(v)}" for k, v in state.strategy_info.items())
    if info:
        header.append(f"\nstrategy: {info}")
    workers = Table(show_edge=False, pad_edge=False)
    for column in ("worker", "state", "trial", "child", "for", "done"):
        workers.add_column(column)
    now = time.time()
    for worker in state.workers:
        running_for = format_seconds(now - worker.since) if worker.busy and worker.since else "-"
        workers.add_row(
            worker.name,
            "[green]busy[/]" if worker.busy else "[dim]idle[/]",
            str(worker.trial) if worker.trial is not None else "-",
            child_phase(worker.extra.get("progress")) if worker.busy else "-",
            running_for,
            str(worker.completed),
        )
    return Group(header, workers)


def child_phase(progress: dict[str, Any] | None) -> str:
    """``epoch 3/20``, ``testing``... from a worker's latest report on its child; ``-`` before the first."""
    if not progress:
        return "-"
    if progress.get("phase") == "training" and progress.get("epoch") is not None:
        epochs = progress.get("epochs")
        epoch = min(progress["epoch"], epochs) if epochs else progress["epoch"]
        return f"epoch {epoch}/{epochs}" if epochs else f"epoch {epoch}"
    return str(progress.get("phase", "-"))


class LiveProgress:
    """`nasnet.search.loop.Progress` as a rich live display, refreshed at most ``fps`` times a second."""

    def __init__(self, console: Console | None = None, fps: float = 4.0) -> None:
        self.console = console or Console()
        self.interval = 1.0 / fps
        self.live: Live | None = None
        self.last = 0.0

    def start(self, state: Any) -> None:
        self.live = Live(render_state(state), console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def update(self, state: Any) -> None:
        now = time.monotonic()
        if self.live is not None and now - self.last >= self.interval:
            self.live.update(render_state(state))
            self.last = now

    def stop(self, state: Any) -> None:
        if self.live is not None:
            self.live.update(render_state(state))
            self.live.stop()
            self.live = None
            if not self.console.is_terminal:
                self.console.line()


class LineProgress:
    """Writes one line when the search starts, then at most every ``every`` seconds, and one at the end.

    `search()` uses it unless given another view or ``progress=False``; the CLI has its live table.
    """

    def __init__(self, every: float = 30.0, stream: TextIO | None = None) -> None:
        self.every = every
        self.stream = stream
        self.last = 0.0

    def _write(self, text: str) -> None:
        print(f"nasnet search: {text}", file=self.stream or sys.stderr, flush=True)

    @staticmethod
    def _line(state: Any) -> str:
        budget = state.budget if state.budget < 2**60 else "∞"
        best = "-" if state.best_reward is None else f"{state.best_reward:.4f}"
        busy = sum(w.busy for w in state.workers)
        return (
            f"{state.finished}/{budget} trials, best reward {best}, {busy}/{len(state.workers)} workers busy, "
            f"{state.trials_per_second * 3600:.0f} trials/h, elapsed {format_seconds(state.session_seconds)}, "
            f"ETA {format_seconds(state.eta_seconds)}"
        )

    def start(self, state: Any) -> None:
        self.last = time.monotonic()
        self._write(f"{state.strategy} in {state.directory}: {len(state.workers)} worker(s); {self._line(state)}")

    def update(self, state: Any) -> None:
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self._write(self._line(state))

    def stop(self, state: Any) -> None:
        self._write(f"done: {self._line(state)}")
