"""Executors: where trials run.

* ``inprocess``: in the calling process, one trial at a time (tests, debugging, plain functions).
* ``local`` (the default): a pool of long-lived worker processes, one per GPU or ``workers`` on CPU.
* ``ray``: actors on a Ray cluster (``pip install nasnet[ray]``).
"""

from __future__ import annotations

from typing import Any

from nasnet.execution.base import Executor, ExecutorError, InProcessExecutor, TrialOutcome, TrialTask, WorkerStatus
from nasnet.execution.local import LocalExecutor

EXECUTORS = ("local", "inprocess", "ray")


def make_executor(name: str = "local", **options: Any) -> Executor:
    """An executor by name; ``options`` go to its constructor."""
    if name == "local":
        return LocalExecutor(**options)
    if name == "inprocess":
        return InProcessExecutor(**options)
    if name == "ray":
        from nasnet.execution.ray_executor import RayExecutor

        return RayExecutor(**options)
    raise ExecutorError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")


__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorError",
    "InProcessExecutor",
    "LocalExecutor",
    "TrialOutcome",
    "TrialTask",
    "WorkerStatus",
    "make_executor",
]
