"""The in-process executor: each trial runs in the calling process, one at a time."""

from __future__ import annotations

import time
from collections import deque

from nasnet.evaluate import EvalResult, Evaluator
from nasnet.execution.base import Executor, TrialTask, WorkerStatus, run_task
from nasnet.execution.registry import EXECUTORS


@EXECUTORS.register("inprocess")
class InProcessExecutor(Executor):
    """Runs each trial in the calling process, one at a time (`wait` does the work).

    For tests, debugging and plain functions as evaluators: nothing is retried and nothing times
    out, since a trial that hangs or kills its process takes the driver with it anyway.
    """

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

    def wait(self, timeout: float | None = None) -> list[EvalResult]:
        if not self.queue:
            return []
        assert self.evaluator is not None, "start() the executor first"
        task = self.queue[0]
        self.status.busy, self.status.trial, self.status.since = True, task.number, time.time()
        try:
            result = run_task(self.evaluator, task, self.status.name)
        finally:
            self.status.busy, self.status.trial = False, None
        self.queue.popleft()
        self.status.completed += 1
        return [result]

    def workers(self) -> list[WorkerStatus]:
        return [self.status]
