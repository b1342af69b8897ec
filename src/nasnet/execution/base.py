"""The executor interface between the search loop and the evaluator.

An executor takes trial tasks, runs them somewhere (this process, worker
processes, a Ray cluster) and hands back outcomes. The search loop and the
store stay the same whichever executor runs the trials.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from nasnet.errors import NasnetError
from nasnet.evaluate import EvalResult, Evaluator
from nasnet.space.serialization import genotype_from_dict


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to evaluate one trial: plain data only."""

    number: int
    genotype: dict[str, Any]
    attempt: int = 1


@dataclass
class TrialOutcome:
    number: int
    result: EvalResult
    worker: str
    attempts: int = 1


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


def run_task(evaluator: Evaluator, task: TrialTask) -> EvalResult:
    """Evaluate one task; an exception becomes a failed result, never a crash."""
    start = time.perf_counter()
    try:
        genotype = genotype_from_dict(task.genotype, source=f"trial {task.number}", num_blocks=None)
        return evaluator.evaluate(genotype, task.number)
    except Exception as err:
        return EvalResult.from_exception(err, time.perf_counter() - start)


def require_evaluator_spec(executor_name: str, evaluator: Evaluator) -> None:
    """Refuse an in-process function: executors that run trials elsewhere rebuild the evaluator from its spec."""
    if evaluator.spec().get("kind") == "callable":
        raise ExecutorError(
            f"the {executor_name} executor runs trials in other processes, which cannot receive an in-process "
            "function; use an evaluator spec (train, synthetic, import) or the in-process executor"
        )


class Attempts:
    """How often each trial has been started, and the retry rule that executors share."""

    def __init__(self, max_attempts: int) -> None:
        if max_attempts < 1:
            raise ExecutorError(f"max_attempts must be >= 1, got {max_attempts}")
        self.max_attempts = max_attempts
        self.counts: dict[int, int] = {}

    def started(self, number: int) -> None:
        self.counts[number] = self.counts.get(number, 0) + 1

    def unstarted(self, number: int) -> None:
        self.counts[number] = max(0, self.counts.get(number, 1) - 1)

    def finished(self, number: int) -> int:
        """Forget ``number`` and return how many times it was started."""
        return self.counts.pop(number, 1)

    def retry_or_fail(
        self, task: TrialTask, reason: str, pending: deque[TrialTask], outcomes: list[TrialOutcome]
    ) -> None:
        """Put ``task`` first in ``pending`` to run again or, past ``max_attempts``, fail it in ``outcomes``."""
        attempts = self.counts.get(task.number, 1)
        if attempts < self.max_attempts:
            pending.appendleft(TrialTask(task.number, task.genotype, attempts + 1))
            return
        self.counts.pop(task.number, None)
        failure = f"{reason}; gave up after {attempts} attempts"
        outcomes.append(TrialOutcome(task.number, EvalResult.failed(failure), "-", attempts))


class Executor(ABC):
    """Runs trial tasks and reports outcomes; ``capacity`` trials may be in flight at once."""

    name: str = ""

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
    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        """Outcomes that are ready, waiting up to ``timeout`` seconds for at least one."""

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


class InProcessExecutor(Executor):
    """Runs each trial in the calling process, one at a time (`wait` does the work)."""

    name = "inprocess"

    def __init__(self, device: str | None = None) -> None:
        self.device = device
        self.queue: deque[TrialTask] = deque()
        self.evaluator: Evaluator | None = None
        self.status = WorkerStatus("main")

    def start(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        evaluator.setup(self.device)

    @property
    def capacity(self) -> int:
        return 1

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def submit(self, task: TrialTask) -> None:
        self.queue.append(task)

    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        if not self.queue:
            return []
        assert self.evaluator is not None, "start() the executor first"
        task = self.queue[0]
        self.status.busy, self.status.trial, self.status.since = True, task.number, time.time()
        try:
            result = run_task(self.evaluator, task)
        finally:
            self.status.busy, self.status.trial = False, None
        self.queue.popleft()
        self.status.completed += 1
        return [TrialOutcome(task.number, result, "main")]

    def workers(self) -> list[WorkerStatus]:
        return [self.status]
