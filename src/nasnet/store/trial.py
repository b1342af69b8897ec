"""The trial vocabulary, after Optuna's ``TrialState`` and ``FrozenTrial``.

* `TrialState`: where a trial is (running, waiting for an equivalent one, complete, failed).
* `EvalResult`: what evaluating one child gave. The evaluator fills its outcome; the executor
  adds the trial number, the worker and the attempt; the search loop hands it whole to the store.
* `FrozenTrial`: a trial as the store holds it. The store returns one for every write, and that
  same record goes to the strategy (``tell``), the progress views and the command line.

Attempts are counted in one place: the store gives a trial its attempt number when it starts
(`ExperimentStore.start_trial`), the executor's task carries it, a retry moves it on by one
(`TrialTask.retry`), and the result brings it back to be stored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nasnet.errors import exception_summary
from nasnet.space.genotype import Genotype
from nasnet.space.serialization import genotype_to_dict


class TrialState(str, Enum):
    """A trial's state; the values are the strings the database and JSON output hold."""

    RUNNING = "running"
    WAITING = "waiting"  # an equivalent genotype is being trained; this trial takes its result
    COMPLETE = "complete"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    # Equal to its value as a string (the str mixin), so it must hash like it too: Enum's own hash
    # (of the member's name) would make a state miss its own value as a dict key.
    __hash__ = str.__hash__

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.FAILED)


FINISHED_STATES = (TrialState.COMPLETE, TrialState.FAILED)


def as_plain_dict(record: Any) -> dict[str, Any]:
    """A dataclass record with a ``state`` as plain JSON data (the state as its string)."""
    out = dataclasses.asdict(record)
    out["state"] = record.state.value
    return out


def known_fields(cls: type, obj: dict[str, Any]) -> dict[str, Any]:
    """The items of ``obj`` that are fields of dataclass ``cls`` (a newer writer's extra keys are ignored)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {key: value for key, value in obj.items() if key in names}


@dataclass(frozen=True)
class EvalResult:
    """The outcome of evaluating one child: ``COMPLETE`` with an accuracy, or ``FAILED`` with a reason."""

    state: TrialState
    accuracy: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    failure: str | None = None
    number: int = 0  # the trial; set by the executor
    worker: str | None = None  # set by the executor
    attempt: int = 1  # which attempt gave this result; set by the executor

    @property
    def ok(self) -> bool:
        return self.state == TrialState.COMPLETE

    @classmethod
    def complete(cls, accuracy: float, metrics: dict[str, Any] | None = None, seconds: float = 0.0) -> EvalResult:
        return cls(TrialState.COMPLETE, float(accuracy), dict(metrics or {}), seconds)

    @classmethod
    def failed(cls, reason: str, seconds: float = 0.0) -> EvalResult:
        return cls(TrialState.FAILED, seconds=seconds, failure=reason)

    @classmethod
    def from_exception(cls, err: BaseException, seconds: float = 0.0) -> EvalResult:
        """A failed result whose reason is ``error: Type: message``."""
        return cls.failed(f"error: {exception_summary(err)}", seconds)

    def placed(self, number: int, attempt: int, worker: str | None = None) -> EvalResult:
        """This result as the executor hands it back: for trial ``number``, from ``attempt`` on ``worker``.

        Built directly rather than with `dataclasses.replace`: it runs once per trial on the search's
        hot path, where replace's generality costs more than the rest of the bookkeeping.
        """
        return EvalResult(
            self.state, self.accuracy, self.metrics, self.seconds, self.failure, number, worker or self.worker, attempt
        )

    def but_failed(self, reason: str) -> EvalResult:
        """This result marked failed with ``reason`` (a reward that cannot be computed), all else kept."""
        return dataclasses.replace(self, state=TrialState.FAILED, failure=reason)

    def to_dict(self) -> dict[str, Any]:
        return as_plain_dict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> EvalResult:
        values = known_fields(cls, obj)
        values["state"] = TrialState(obj["state"])
        values["metrics"] = dict(obj.get("metrics") or {})
        return cls(**values)


@dataclass(frozen=True)
class FrozenTrial:
    """One trial as stored: its proposal, its state and, once finished, its result and reward."""

    number: int
    state: TrialState
    genotype: Genotype
    genotype_hash: str
    decisions: tuple[int, ...]
    info: dict[str, Any]
    reward: float | None = None
    accuracy: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    worker: str | None = None
    attempts: int = 0
    cached_from: int | None = None
    ask_seq: int = 0
    tell_seq: int | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    seconds: float | None = None

    @property
    def finished(self) -> bool:
        return self.state.finished

    @property
    def value(self) -> float | None:
        """The reward a strategy is told: the trial's reward if it completed, else None."""
        return self.reward if self.state == TrialState.COMPLETE else None

    def result(self) -> EvalResult:
        """This trial's result (its outcome, worker and attempt; no time), as a waiting duplicate takes it over."""
        return EvalResult(
            self.state,
            self.accuracy,
            dict(self.metrics),
            0.0,
            self.failure,
            number=self.number,
            worker=self.worker,
            attempt=self.attempts,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "genotype"}
        out["state"] = self.state.value
        out["genotype"] = genotype_to_dict(self.genotype)
        out["decisions"] = list(self.decisions)
        return out
