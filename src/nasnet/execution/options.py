"""Executor options: what each one may be, and `make_executor`, which checks them all first.

An option is checked by its name, whichever executor takes it, so that ``workers`` reads the same
for the local pool, Ray and a plug-in. Which options an executor takes is its constructor's
signature: nothing else has to be declared for a new executor.
"""

from __future__ import annotations

import inspect
from typing import Any

from nasnet.errors import short_repr
from nasnet.execution.base import Executor, ExecutorError, gpu_count
from nasnet.execution.registry import EXECUTORS
from nasnet.validation import check_int, check_number

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

# Integer options and their inclusive ranges.
_INT_RANGES = {
    "workers": (1, MAX_WORKERS),
    "trials_per_gpu": (1, MAX_TRIALS_PER_GPU),
    "max_attempts": (1, MAX_ATTEMPTS),
}


def option_name(option: str) -> str:
    """``option`` with its command-line flag, e.g. ``workers (--workers)``, as messages name it."""
    flag = OPTION_FLAGS.get(option)
    return f"{option} ({flag})" if flag else option


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


def check_value(option: str, value: Any) -> None:
    """Refuse a value out of range for ``option`` (None, where allowed, means the executor's default).

    Executors' constructors call it too, so that one made directly refuses what `make_executor` refuses.
    """
    if option in _INT_RANGES and (value is not None or option != "workers"):
        low, high = _INT_RANGES[option]
        # The range written plainly (1024, not 1,024), as the command line takes it.
        check_int(option_name(option), value, low, high, error=ExecutorError, shown=f"from {low} to {high}")
    elif option == "trial_timeout" and value is not None:
        check_number(option_name(option), value, positive=True, error=ExecutorError)
    elif option in ("num_cpus_per_trial", "num_gpus_per_trial") and value is not None:
        check_number(option_name(option), value, low=0.0, error=ExecutorError)
    elif option == "device" and value is not None:
        check_device(value)
    elif option == "devices" and value is not None:
        if not isinstance(value, (list, tuple)) or not value:
            raise ExecutorError(f"{option_name(option)} must be a non-empty list of devices, got {short_repr(value)}")
        if len(value) > MAX_WORKERS:
            raise ExecutorError(f"{option_name(option)}: at most {MAX_WORKERS} worker devices, got {len(value)}")
        for device in value:
            check_device(device)
    elif option == "address" and value is not None and (not isinstance(value, str) or not value.strip()):
        raise ExecutorError(f"{option_name(option)} must be auto or HOST:PORT, got {short_repr(value)}")


def _takes(executor_class: type[Executor], option: str) -> bool:
    return option in inspect.signature(executor_class.__init__).parameters


def check_options(name: str, options: dict[str, Any]) -> None:
    """Refuse options that executor ``name`` does not take, or whose values are out of range."""
    executor_class = EXECUTORS.get(name)  # an unknown name
    executor_class.check_installed()  # say so now, not once the experiment exists
    unused = [option for option in options if option == "self" or not _takes(executor_class, option)]
    if unused:
        aliases = {unused[0], {"device": "devices", "devices": "device"}.get(unused[0], unused[0])}
        takers = [
            other
            for other, other_class in EXECUTORS.items()
            if other != name and any(_takes(other_class, alias) for alias in aliases)
        ]
        where = f" (an option of the {' and '.join(takers)} executor{'s' if len(takers) > 1 else ''})" if takers else ""
        raise ExecutorError(f"the {name} executor does not use {option_name(unused[0])}{where}")
    for option, value in options.items():
        check_value(option, value)
    executor_class.check_combination(options)


def make_executor(name: str = "local", **options: Any) -> Executor:
    """An executor by name; ``options`` go to its constructor, checked first (see `check_options`)."""
    check_options(name, options)
    return EXECUTORS.get(name)(**options)
