"""Executors: where trials run.

* ``inprocess``: in the calling process, one trial at a time (tests, debugging, plain functions).
* ``local`` (the default): a pool of long-lived worker processes, one per GPU or ``workers`` on CPU.
* ``ray``: actors on a Ray cluster (``pip install nasnet[ray]``).

`make_executor` checks every option before anything starts: an option the executor does not use
(``workers`` for ``inprocess``, ``trials_per_gpu`` on a machine without a GPU...), a number out of
range or a device that does not exist is a one-line `ExecutorError` naming the command-line flag,
never an option silently ignored.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
from typing import Any

from nasnet.errors import short_repr
from nasnet.execution.base import (
    Executor,
    ExecutorError,
    InProcessExecutor,
    TrialOutcome,
    TrialTask,
    WorkerStatus,
    gpu_count,
)
from nasnet.execution.local import LocalExecutor

EXECUTORS = ("local", "inprocess", "ray")
MAX_WORKERS = 1024  # worker processes or Ray actors; more is a typing mistake, not a pool
MAX_TRIALS_PER_GPU = 64
MAX_ATTEMPTS = 1000

# The command-line flag of each executor option, for messages.
OPTION_FLAGS = {
    "workers": "--workers",
    "trials_per_gpu": "--trials-per-gpu",
    "devices": "--device",
    "device": "--device",
    "address": "--address",
    "num_cpus_per_trial": "--cpus-per-trial",
    "num_gpus_per_trial": "--gpus-per-trial",
    "trial_timeout": "--trial-timeout",
    "max_attempts": "--max-attempts",
}


def _flag(option: str) -> str:
    flag = OPTION_FLAGS.get(option)
    return f"{option} ({flag})" if flag else option


def _executor_class(name: str) -> type[Executor]:
    if name == "local":
        return LocalExecutor
    if name == "inprocess":
        return InProcessExecutor
    if name == "ray":
        from nasnet.execution.ray_executor import RayExecutor  # imports Ray itself only when started

        return RayExecutor
    raise ExecutorError(f"unknown executor {short_repr(name)}; expected one of {', '.join(EXECUTORS)}")


def _takes(name: str, option: str) -> bool:
    return option in inspect.signature(_executor_class(name).__init__).parameters


def check_device(device: Any, flag: str = "--device") -> str:
    """``device`` if it names a device this machine has (cpu, cuda, cuda:N, mps); else a one-line ExecutorError."""
    import torch

    if not isinstance(device, str) or not device.strip():
        raise ExecutorError(f"{flag} {short_repr(device)}: name a device, e.g. cpu or cuda:0")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ExecutorError(f"{flag} {short_repr(device)}: not a device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cpu":
        return device
    if parsed.type == "cuda":
        count = gpu_count()
        if count == 0:
            raise ExecutorError(f"{flag} {short_repr(device)}: CUDA is not available on this machine; use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise ExecutorError(
                f"{flag} {short_repr(device)}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
            )
        return device
    if parsed.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ExecutorError(f"{flag} {short_repr(device)}: MPS is not available on this machine; use --device cpu")
        return device
    raise ExecutorError(f"{flag} {short_repr(device)}: children train on cpu, cuda[:N] or mps, not {parsed.type}")


def _check_int(option: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ExecutorError(f"{_flag(option)} must be an integer from {low} to {high}, got {short_repr(value)}")


def _check_number(option: str, value: Any, positive: bool) -> None:
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    try:
        finite = number is not None and math.isfinite(number)
    except OverflowError:
        finite = False
    if not finite or (number <= 0 if positive else number < 0):
        bound = "> 0" if positive else ">= 0"
        raise ExecutorError(f"{_flag(option)} must be a finite number {bound}, got {short_repr(value)}")


def check_options(name: str, options: dict[str, Any]) -> None:
    """Refuse options that executor ``name`` does not take, or whose values are out of range."""
    _executor_class(name)  # an unknown name
    if name == "ray" and importlib.util.find_spec("ray") is None:  # say so now, not once the experiment exists
        raise ExecutorError("the ray executor needs Ray: pip install 'nasnet[ray]'")
    unused = [option for option in options if option == "self" or not _takes(name, option)]
    if unused:
        aliases = {unused[0], {"device": "devices", "devices": "device"}.get(unused[0], unused[0])}
        takers = [other for other in EXECUTORS if other != name and any(_takes(other, a) for a in aliases)]
        where = f" (an option of the {' and '.join(takers)} executor{'s' if len(takers) > 1 else ''})" if takers else ""
        raise ExecutorError(f"the {name} executor does not use {_flag(unused[0])}{where}")
    for option, value in options.items():
        if option == "workers" and value is not None:
            _check_int(option, value, 1, MAX_WORKERS)
        elif option == "trials_per_gpu":
            _check_int(option, value, 1, MAX_TRIALS_PER_GPU)
        elif option == "max_attempts":
            _check_int(option, value, 1, MAX_ATTEMPTS)
        elif option == "trial_timeout" and value is not None:
            _check_number(option, value, positive=True)
        elif option in ("num_cpus_per_trial", "num_gpus_per_trial") and value is not None:
            _check_number(option, value, positive=False)
        elif option == "device" and value is not None:
            check_device(value)
        elif option == "devices" and value is not None:
            if not isinstance(value, (list, tuple)) or not value:
                raise ExecutorError(f"{_flag(option)} must be a non-empty list of devices, got {short_repr(value)}")
            if len(value) > MAX_WORKERS:
                raise ExecutorError(f"{_flag(option)}: at most {MAX_WORKERS} worker devices, got {len(value)}")
            for device in value:
                check_device(device)
        elif option == "address" and value is not None and (not isinstance(value, str) or not value.strip()):
            raise ExecutorError(f"{_flag(option)} must be auto or HOST:PORT, got {short_repr(value)}")
    if name == "local" and "trials_per_gpu" in options:
        # trials_per_gpu only shapes the default pool (one slot per GPU, times trials_per_gpu):
        # given where that pool is not made, it would be ignored
        if options.get("devices") is not None:
            raise ExecutorError("--trials-per-gpu packs children on every GPU; it cannot go with --device")
        if options.get("workers") is not None:
            raise ExecutorError(
                "--trials-per-gpu packs children on every GPU; with --workers N the pool is N workers: give one"
            )
        if gpu_count() == 0:
            raise ExecutorError(
                f"--trials-per-gpu {options['trials_per_gpu']}: this machine has no CUDA GPU; "
                "use --workers N for N CPU workers"
            )


def make_executor(name: str = "local", **options: Any) -> Executor:
    """An executor by name; ``options`` go to its constructor, checked first (see `check_options`)."""
    check_options(name, options)
    return _executor_class(name)(**options)


__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorError",
    "InProcessExecutor",
    "LocalExecutor",
    "TrialOutcome",
    "TrialTask",
    "WorkerStatus",
    "check_device",
    "check_options",
    "make_executor",
]
