"""TensorBoard scalars of a search or a training run (``--tensorboard DIR``; ``pip install 'nasnet[tensorboard]'``).

The experiment store and ``metrics.jsonl`` stay the record; these are a live view for people
who already watch their runs in TensorBoard.
"""

from __future__ import annotations

import numbers
from typing import Any

from nasnet.errors import NasnetError
from nasnet.search.views import SearchState
from nasnet.store.trial import FrozenTrial


class TensorBoardError(NasnetError):
    """TensorBoard is not installed, or its log directory cannot be written."""


def summary_writer(logdir: str) -> Any:
    """A `SummaryWriter` for ``logdir``; a one-line error naming the flag where TensorBoard is missing."""
    if not str(logdir).strip():
        raise TensorBoardError("--tensorboard is empty: name a log directory")
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise TensorBoardError("--tensorboard needs TensorBoard: pip install 'nasnet[tensorboard]'") from None
    try:
        return SummaryWriter(log_dir=str(logdir))
    except OSError as err:
        raise TensorBoardError(f"--tensorboard {logdir}: cannot be written ({err.strerror or err})") from None


class TrainScalars:
    """An ``on_epoch`` callback: every number of an epoch's record (loss, accuracies, learning rate...)."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def on_epoch(self, record: dict[str, Any]) -> None:
        epoch = int(record.get("epoch", 0))
        for key, value in record.items():
            if key != "epoch" and isinstance(value, numbers.Real) and not isinstance(value, bool):
                self.writer.add_scalar(key, float(value), epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class SearchScalars:
    """A search progress view: each finished trial's reward, accuracy and cost at its number, the best
    reward so far, and the search's pace at the number of trials finished."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.best: float | None = None

    def start(self, state: SearchState) -> None:
        self.best = state.best_reward

    def trial(self, trial: FrozenTrial) -> None:
        if trial.value is None:
            return
        step = trial.number
        self.writer.add_scalar("trial/reward", trial.value, step)
        if trial.accuracy is not None:
            self.writer.add_scalar("trial/accuracy", trial.accuracy, step)
        for cost in ("mult_adds", "params"):
            if isinstance(trial.metrics.get(cost), numbers.Real):
                self.writer.add_scalar(f"trial/{cost}", float(trial.metrics[cost]), step)
        if self.best is None or trial.value > self.best:
            self.best = trial.value
        self.writer.add_scalar("search/best_reward", self.best, step)

    def update(self, state: SearchState) -> None:
        self.writer.add_scalar("search/trials_per_hour", state.trials_per_second * 3600, state.finished)
        self.writer.flush()

    def stop(self, state: SearchState) -> None:
        self.update(state)
        self.writer.close()
