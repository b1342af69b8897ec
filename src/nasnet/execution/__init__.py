"""Executors: where trials run (this process, a local worker pool, a Ray cluster)."""

from nasnet.execution.base import Executor, InProcessExecutor, TrialOutcome, TrialTask, WorkerStatus

__all__ = ["Executor", "InProcessExecutor", "TrialOutcome", "TrialTask", "WorkerStatus"]
