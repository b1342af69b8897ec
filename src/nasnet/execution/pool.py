"""What every pool of workers does the same way, whatever the workers are (processes, Ray actors).

`PoolExecutor` keeps the queue of pending tasks, hands them to idle slots, waits no longer than
the first trial's time limit, stops trials over that limit, and retries or fails the trial of a
worker that died. A subclass only says how a task reaches a worker (`_send`), how the driver waits
for what workers say (`_wait_events`, which reports through `_finish` and `_lose`) and how a
trial over its limit is stopped (`_abort`).

The retry rule: a trial whose worker died runs again, first in line, while it has had fewer than
``max_attempts`` tries in this session; then it fails with the reason and the number of tries.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nasnet.evaluate import EvalResult
from nasnet.execution.base import Executor, TrialTask, WorkerStatus
from nasnet.execution.options import check_value

GAVE_UP_WORKER = "-"  # the worker of a trial that failed on every try: none of them in particular


@dataclass
class Slot:
    """One place a trial can run: a worker process, a Ray actor."""

    index: int
    name: str
    task: TrialTask | None = None
    started_at: float | None = None
    completed: int = 0
    progress: dict[str, Any] | None = None  # the running child's latest report, if the worker sends any


SlotT = TypeVar("SlotT", bound=Slot)


class PoolExecutor(Executor, Generic[SlotT]):
    """A fixed number of slots, each running one trial at a time; see the module's description."""

    def __init__(self, max_attempts: int = 3, trial_timeout: float | None = None) -> None:
        check_value("max_attempts", max_attempts)
        check_value("trial_timeout", trial_timeout)
        self.max_attempts = max_attempts
        self.trial_timeout = trial_timeout
        self.slots: list[SlotT] = []
        self.pending: deque[TrialTask] = deque()
        self.results: list[EvalResult] = []

    # ---- what a subclass provides --------------------------------------------------------------

    @abstractmethod
    def _send(self, slot: SlotT, task: TrialTask) -> bool:
        """Start ``task`` on ``slot``'s worker; False if it could not be sent (it goes back in the queue)."""

    @abstractmethod
    def _wait_events(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds for workers' answers and deaths, and handle every one that came.

        An answer goes to `_finish`; the death of a busy worker to `_lose`.
        """

    @abstractmethod
    def _abort(self, slot: SlotT) -> None:
        """Stop the trial running on ``slot`` (it is over its time limit), leaving a worker that can take another."""

    def _accepts(self, slot: SlotT) -> bool:
        """Whether ``slot``'s worker can be sent a task now (one being restarted cannot)."""
        return True

    def _status_extra(self, slot: SlotT) -> dict[str, Any]:
        """What `workers` reports of ``slot`` beyond the common fields."""
        return {}

    # ---- the pool ------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return len(self.slots)

    @property
    def in_flight(self) -> int:
        return len(self.pending) + sum(slot.task is not None for slot in self.slots) + len(self.results)

    def submit(self, task: TrialTask) -> None:
        self.pending.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        for slot in self.slots:
            if not self.pending:
                return
            if slot.task is None and self._accepts(slot):
                task = self.pending.popleft()
                if not self._send(slot, task):
                    self.pending.appendleft(task)  # never started: not a try
                    continue
                slot.task, slot.started_at, slot.progress = task, time.time(), None

    def wait(self, timeout: float | None = None) -> list[EvalResult]:
        self._dispatch()
        if not self.results:
            self._wait_events(self._wait_timeout(timeout))
            self._check_timeouts()
        self._dispatch()
        results, self.results = self.results, []
        return results

    def _wait_timeout(self, timeout: float | None) -> float | None:
        """``timeout``, shortened so that the driver wakes when the first running trial reaches its limit."""
        if self.trial_timeout is None:
            return timeout
        deadlines = [
            slot.started_at + self.trial_timeout - time.time()
            for slot in self.slots
            if slot.task is not None and slot.started_at is not None
        ]
        if not deadlines:
            return timeout
        return max(0.0, min([*deadlines, timeout if timeout is not None else float("inf")]))

    def _check_timeouts(self) -> None:
        if self.trial_timeout is None:
            return
        now = time.time()
        for slot in self.slots:
            task = slot.task
            if task is not None and slot.started_at is not None and now - slot.started_at > self.trial_timeout:
                slot.task, slot.started_at = None, None
                self._abort(slot)
                failed = EvalResult.failed(f"timed out after {self.trial_timeout:g} s", self.trial_timeout)
                self.results.append(self._stamped(failed, task, slot.name))

    @staticmethod
    def _stamped(result: EvalResult, task: TrialTask, worker: str) -> EvalResult:
        return result.placed(task.number, task.attempt, worker)

    def _finish(self, slot: SlotT, result: EvalResult) -> None:
        """``slot``'s worker answered for its trial."""
        task = slot.task
        if task is None:
            return  # an answer for a trial already timed out
        self.results.append(self._stamped(result, task, slot.name))
        slot.task, slot.started_at = None, None
        slot.completed += 1

    def _lose(self, slot: SlotT, reason: str) -> None:
        """``slot``'s worker died: its trial, if it had one, runs again or fails (see the module's description)."""
        task = slot.task
        slot.task, slot.started_at = None, None
        if task is None:
            return
        if task.tries < self.max_attempts:
            self.pending.appendleft(task.retry())
            return
        failed = EvalResult.failed(f"{reason}; gave up after {task.tries} attempts")
        self.results.append(self._stamped(failed, task, GAVE_UP_WORKER))

    def workers(self) -> list[WorkerStatus]:
        return [
            WorkerStatus(
                name=slot.name,
                busy=slot.task is not None,
                trial=slot.task.number if slot.task is not None else None,
                since=slot.started_at,
                completed=slot.completed,
                extra=self._status_extra(slot),
            )
            for slot in self.slots
        ]

    def shutdown(self) -> None:
        self.pending.clear()
