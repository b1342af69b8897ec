"""The executor interface between the search loop and the evaluator.

An executor takes trial tasks, runs them somewhere (this process, worker
processes, a Ray cluster) and hands back one `EvalResult` per trial, stamped
with the trial's number, the worker that ran it and the attempt that gave it.
The search loop and the store stay the same whichever executor runs the trials.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from nasnet.errors import NasnetError, short_repr
from nasnet.evaluate import EvalResult, Evaluator
from nasnet.space.serialization import genotype_from_dict


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to evaluate one trial: plain data only.

    ``attempt`` is the trial's attempt number across sessions (the store gives it); ``tries``
    counts the tries in this executor session, which is what ``max_attempts`` limits. Both move
    on together, in `retry` only.
    """

    number: int
    genotype: dict[str, Any]
    attempt: int = 1
    tries: int = 1

    def retry(self) -> TrialTask:
        """This task, to run once more."""
        return dataclasses.replace(self, attempt=self.attempt + 1, tries=self.tries + 1)

    def to_dict(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this task on the other side of a pipe or a Ray call."""
        return dict(self.__dict__)


@dataclass
class WorkerStatus:
    name: str
    busy: bool = False
    trial: int | None = None
    since: float | None = None
    completed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class ExecutorError(NasnetError):
    """Workers could not be started or kept alive, or an executor option is invalid."""


def gpu_count() -> int:
    """CUDA GPUs visible to this process (0 when torch cannot see any)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0


def run_task(evaluator: Evaluator, task: TrialTask, worker: str | None = None) -> EvalResult:
    """Evaluate one task; an exception becomes a failed result, never a crash.

    The result carries the task's trial number and attempt, and ``worker`` when the caller knows it.
    """
    start = time.perf_counter()
    try:
        genotype = genotype_from_dict(task.genotype, source=f"trial {task.number}", num_blocks=None)
        result = evaluator.evaluate(genotype, task.number)
        if not isinstance(result, EvalResult):
            # Caught here, where the evaluator is known, rather than as a broken pipe in the driver.
            raise TypeError(f"{type(evaluator).__name__}.evaluate returned {short_repr(result)}, not an EvalResult")
    except Exception as err:
        result = EvalResult.from_exception(err, time.perf_counter() - start)
    return result.placed(task.number, task.attempt, worker)


def require_evaluator_spec(executor_name: str, evaluator: Evaluator) -> None:
    """Refuse an in-process function: executors that run trials elsewhere rebuild the evaluator from its spec."""
    if evaluator.spec().get("kind") == "callable":
        raise ExecutorError(
            f"the {executor_name} executor runs trials in other processes, which cannot receive an in-process "
            "function; use an evaluator spec (train, synthetic, import) or the in-process executor"
        )


class Executor(ABC):
    """Runs trial tasks and reports their results; ``capacity`` trials may be in flight at once.

    A subclass registered in `nasnet.execution.EXECUTORS` is made by name with `make_executor`,
    its keyword arguments being the options it accepts.
    """

    name: str = ""

    @classmethod  # noqa: B027 (optional hook)
    def check_installed(cls) -> None:
        """Raise ExecutorError if something this executor needs is missing, before any experiment exists."""

    @classmethod  # noqa: B027 (optional hook)
    def check_combination(cls, options: dict[str, Any]) -> None:
        """Raise ExecutorError for options that are valid one by one but not together."""

    @abstractmethod
    def start(self, evaluator: Evaluator) -> None: ...

    @property
    @abstractmethod
    def capacity(self) -> int: ...

    @property
    @abstractmethod
    def in_flight(self) -> int: ...

    @abstractmethod
    def submit(self, task: TrialTask) -> None: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[EvalResult]:
        """Results that are ready, waiting up to ``timeout`` seconds for at least one.

        Each carries its trial's ``number``, the ``worker`` that ran it and its ``attempt``.
        """

    def workers(self) -> list[WorkerStatus]:
        return []

    def validate(self, evaluator: Evaluator) -> None:  # noqa: B027 (optional hook)
        """Raise before anything is written if this executor cannot run ``evaluator``."""

    def shutdown(self) -> None:  # noqa: B027 (optional hook)
        """Stop every worker; nothing may be left running."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
