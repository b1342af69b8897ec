"""`LineProgress`: a search's progress as a plain line now and then, for the Python API and logs."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


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
            f"{state.trials_per_second * 3600:.0f} trials/h, elapsed {_clock(state.session_seconds)}, "
            f"ETA {_clock(state.eta_seconds)}"
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
