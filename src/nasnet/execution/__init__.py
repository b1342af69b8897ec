"""Executors: where trials run.

* ``inprocess``: in the calling process, one trial at a time (tests, debugging, plain functions).
* ``local`` (the default): a pool of long-lived worker processes, one per GPU or ``workers`` on CPU.
* ``ray``: actors on a Ray cluster (``pip install nasnet[ray]``).

Executors are found by name in `EXECUTORS`. Another one is a subclass of `Executor` (or of
`PoolExecutor`, which brings the queue, the retries and the time limits) registered with
``@EXECUTORS.register("name")`` in its own module; `make_executor` then makes it by that name,
its constructor's keyword arguments being its options.

`make_executor` checks every option before anything starts: an option the executor does not use
(``workers`` for ``inprocess``, ``trials_per_gpu`` on a machine without a GPU...), a number out of
range or a device that does not exist is a one-line `ExecutorError` naming the command-line flag,
never an option silently ignored.
"""

from __future__ import annotations

from nasnet.execution.base import Executor, ExecutorError, TrialTask, WorkerStatus, gpu_count
from nasnet.execution.options import (
    MAX_ATTEMPTS,
    MAX_TRIALS_PER_GPU,
    MAX_WORKERS,
    OPTION_FLAGS,
    check_device,
    check_options,
    make_executor,
)
from nasnet.execution.pool import PoolExecutor
from nasnet.execution.registry import EXECUTORS, list_executors

# The built-in executors: importing each module registers it. Ray itself is imported only when
# a Ray executor starts.
from nasnet.execution.local import LocalExecutor  # isort: skip
from nasnet.execution.inprocess import InProcessExecutor  # isort: skip
from nasnet.execution import ray_executor as _ray_executor  # noqa: F401  # isort: skip

__all__ = [
    "EXECUTORS",
    "MAX_ATTEMPTS",
    "MAX_TRIALS_PER_GPU",
    "MAX_WORKERS",
    "OPTION_FLAGS",
    "Executor",
    "ExecutorError",
    "InProcessExecutor",
    "LocalExecutor",
    "PoolExecutor",
    "TrialTask",
    "WorkerStatus",
    "check_device",
    "check_options",
    "gpu_count",
    "list_executors",
    "make_executor",
]
