"""What a running search shows (`SearchState`, to any `Progress` view) and what it returns (`SearchSummary`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from nasnet.execution.base import WorkerStatus
from nasnet.store.trial import FrozenTrial, TrialState


@dataclass
class SearchState:
    """What a progress view shows."""

    directory: str
    strategy: str
    budget: int
    counts: dict[str, int]
    best_reward: float | None
    best_trial: int | None
    session_completed: int
    session_seconds: float
    workers: list[WorkerStatus]
    strategy_info: dict[str, Any]
    deadline_seconds: float | None = None

    @property
    def finished(self) -> int:
        return sum(self.counts.get(state.value, 0) for state in (TrialState.COMPLETE, TrialState.FAILED))

    @property
    def trials_per_second(self) -> float:
        return self.session_completed / self.session_seconds if self.session_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.trials_per_second
        if rate <= 0:
            return None
        eta = (self.budget - self.finished) / rate
        return min(eta, self.deadline_seconds) if self.deadline_seconds is not None else eta


class Progress(Protocol):
    """A view of a running search. A view may also define ``trial(trial)``, to hear of each finished trial."""

    def start(self, state: SearchState) -> None: ...
    def update(self, state: SearchState) -> None: ...
    def stop(self, state: SearchState) -> None: ...


class Views:
    """Several progress views as one (the live table and TensorBoard, say)."""

    def __init__(self, *views: Progress) -> None:
        self.views = views

    def start(self, state: SearchState) -> None:
        for view in self.views:
            view.start(state)

    def update(self, state: SearchState) -> None:
        for view in self.views:
            view.update(state)

    def stop(self, state: SearchState) -> None:
        for view in self.views:
            view.stop(state)

    def trial(self, trial: FrozenTrial) -> None:
        for view in self.views:
            hear = getattr(view, "trial", None)
            if hear is not None:
                hear(trial)


@dataclass
class SearchSummary:
    directory: str
    strategy: str
    counts: dict[str, int]
    best: FrozenTrial | None
    elapsed_seconds: float
    session_seconds: float
    session_trials: int
    stopped: str  # "budget", "time"
    replay_divergences: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "best"}
        out["best"] = self.best.to_dict() if self.best else None
        return out


def progress_view(progress: Progress | bool | None) -> Progress | None:
    """``True``: a line to stderr now and then; ``False``/``None``: silent; else the view given."""
    if progress is True:
        from nasnet.search.progress import LineProgress  # rich is imported only when a view is asked for

        return LineProgress()
    return progress or None
