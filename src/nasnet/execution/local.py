"""The local executor: one long-lived worker process per GPU (or ``workers`` on CPU).

Each worker builds the evaluator once, so its CUDA context and its dataset stay
resident across trials. Workers talk to the driver over their own pipe; the
driver waits on every pipe and every process at once, so it sees a result or
a worker's death as soon as it happens.

* A worker that dies mid-trial (a crash, SIGKILL) is replaced by a fresh one
  and its trial runs again, up to ``max_attempts``; then the trial is marked
  failed with the reason.
* A trial over ``trial_timeout`` seconds is stopped (its worker is killed and
  replaced) and marked failed.
* Out-of-memory inside a trial is the trainer's failed result: the worker
  stays healthy.
* ``--plugin`` modules loaded in the driver are imported in every worker
  before it builds the evaluator.
* Workers ignore Ctrl-C and die with the driver (Linux's parent-death signal,
  plus a check of the parent's pid), so none is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Any

from nasnet.errors import exception_summary
from nasnet.evaluate import EvalResult, Evaluator, make_evaluator
from nasnet.execution.base import ExecutorError, TrialTask, gpu_count, require_evaluator_spec, run_task
from nasnet.execution.options import check_value
from nasnet.execution.pool import PoolExecutor, Slot
from nasnet.execution.registry import EXECUTORS
from nasnet.registry import load_plugins, loaded_plugins

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def worker_main(
    conn: Connection,
    name: str,
    evaluator_spec: dict[str, Any],
    device: str,
    threads: int,
    parent_pid: int,
    plugins: list[str] | None = None,
) -> None:
    """The body of a worker process.

    ``plugins`` are the driver's ``--plugin`` modules: a new process has imported none of them, and
    the evaluator (or an op, or a dataset) may be one they register.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when workers stop
    _die_with_parent()
    try:
        import torch

        torch.set_num_threads(threads)
        load_plugins(plugins or [])
        evaluator = make_evaluator(evaluator_spec)
        evaluator.setup(device)
    except Exception as err:
        conn.send(("setup_failed", exception_summary(err)))
        return
    conn.send(("ready", {"pid": os.getpid(), "device": device}))
    current = [0]

    def report(info: dict[str, Any]) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            conn.send(("progress", current[0], info))

    evaluator.report = report
    while True:
        try:
            if not conn.poll(1.0):
                if os.getppid() != parent_pid:
                    return  # the driver is gone
                continue
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "stop":
            return
        task = TrialTask(**message[1])
        current[0] = task.number
        result = run_task(evaluator, task)
        try:
            conn.send(("result", task.number, result.to_dict()))
        except (BrokenPipeError, OSError):
            return


def _main_guard_hint() -> str:
    """Advice for the commonest cause of workers that die at start: a script without a main guard."""
    main = sys.modules.get("__main__")
    if main is None or not getattr(main, "__file__", None):
        return ""
    return (
        f". Workers are new processes that import {Path(main.__file__).name}: if it calls search() at the top "
        'level, move that call under `if __name__ == "__main__":`'
    )


@dataclass(kw_only=True)
class _WorkerSlot(Slot):
    device: str
    process: Any = None
    conn: Connection | None = None
    ready: bool = False
    early_deaths: int = 0
    restarts: int = 0
    pid: int | None = None


def default_devices(workers: int | None, trials_per_gpu: int) -> list[str]:
    """One slot per GPU (``trials_per_gpu`` per GPU), else ``workers`` CPU slots."""
    gpus = gpu_count()
    if gpus and workers is None:
        return [f"cuda:{g}" for g in range(gpus) for _ in range(trials_per_gpu)]
    return ["cpu"] * (workers or 1)


@EXECUTORS.register("local")
class LocalExecutor(PoolExecutor[_WorkerSlot]):
    """A pool of worker processes on this machine."""

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        trials_per_gpu: int = 1,
        devices: list[str] | None = None,
        max_attempts: int = 3,
        trial_timeout: float | None = None,
        start_timeout: float = 600.0,
    ) -> None:
        super().__init__(max_attempts, trial_timeout)
        check_value("workers", workers)
        check_value("trials_per_gpu", trials_per_gpu)
        self.devices = devices or default_devices(workers, trials_per_gpu)
        self.start_timeout = start_timeout
        self.context = multiprocessing.get_context("spawn")
        self.slots = [
            _WorkerSlot(index=i, name=f"w{i} ({device})", device=device) for i, device in enumerate(self.devices)
        ]
        cpu_slots = sum(device == "cpu" for device in self.devices)
        self.threads = max(1, (os.cpu_count() or 1) // max(1, cpu_slots))
        self.spec: dict[str, Any] | None = None
        self.plugins: list[str] = []

    @classmethod
    def check_combination(cls, options: dict[str, Any]) -> None:
        if "trials_per_gpu" not in options:
            return
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

    # ---- lifecycle ----------------------------------------------------------------------

    def validate(self, evaluator: Evaluator) -> None:
        require_evaluator_spec(self.name, evaluator)

    def start(self, evaluator: Evaluator) -> None:
        self.validate(evaluator)
        self.spec = evaluator.spec()
        self.plugins = loaded_plugins()
        for slot in self.slots:
            self._spawn(slot)

    def _spawn(self, slot: _WorkerSlot) -> None:
        assert self.spec is not None
        parent, child = self.context.Pipe(duplex=True)
        process = self.context.Process(
            target=worker_main,
            args=(child, slot.name, self.spec, slot.device, self.threads, os.getpid(), self.plugins),
            name=f"nasnet-worker-{slot.index}",
            # Not daemonic, so a worker may start processes of its own (parallel image decoding);
            # shutdown() and the parent-death signal make sure none outlives the driver.
            daemon=False,
        )
        process.start()
        child.close()
        slot.process, slot.conn, slot.ready, slot.pid = process, parent, False, process.pid
        slot.task, slot.started_at = None, None

    def _restart(self, slot: _WorkerSlot) -> None:
        self._stop_process(slot)
        slot.restarts += 1
        self._spawn(slot)

    def shutdown(self) -> None:
        for slot in self.slots:
            if slot.conn is not None:
                with contextlib.suppress(OSError, ValueError):
                    slot.conn.send(("stop",))
        deadline = time.monotonic() + 5.0
        for slot in self.slots:
            if slot.process is not None:
                slot.process.join(max(0.0, deadline - time.monotonic()))
        for slot in self.slots:
            self._stop_process(slot)
        super().shutdown()

    @staticmethod
    def _stop_process(slot: _WorkerSlot) -> None:
        process = slot.process
        if process is not None:
            if process.is_alive():
                process.terminate()
                process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join(2.0)
            with contextlib.suppress(ValueError):
                process.close()
        if slot.conn is not None:
            slot.conn.close()
        slot.process, slot.conn = None, None

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every worker has set up its evaluator (or ``timeout`` passes); True if all are ready.

        For measurements that must not count worker start-up; a search does not need it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not all(slot.ready for slot in self.slots):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            for ready in wait_for(self._waitables(), min(1.0, left) if left is not None else 1.0):
                self._on_ready(ready)
        return True

    # ---- the pool's hooks -----------------------------------------------------------------

    def _accepts(self, slot: _WorkerSlot) -> bool:
        # A worker still setting up is sent tasks already: its pipe holds them until it reads them.
        return slot.conn is not None

    def _send(self, slot: _WorkerSlot, task: TrialTask) -> bool:
        assert slot.conn is not None
        try:
            slot.conn.send(("task", task.to_dict()))
        except (BrokenPipeError, OSError):
            return False  # the worker is dying; its sentinel will say so
        return True

    def _wait_events(self, timeout: float | None) -> None:
        for ready in wait_for(self._waitables(), timeout):
            self._on_ready(ready)

    def _abort(self, slot: _WorkerSlot) -> None:
        # A trial cannot be interrupted inside its worker: replace the worker.
        self._restart(slot)

    def _status_extra(self, slot: _WorkerSlot) -> dict[str, Any]:
        return {"pid": slot.pid, "ready": slot.ready, "restarts": slot.restarts, "progress": slot.progress}

    # ---- what workers say -------------------------------------------------------------------

    def _waitables(self) -> list[Any]:
        """Every live worker's pipe and process sentinel: a result or a death wakes the driver."""
        return [w for slot in self.slots if slot.conn is not None for w in (slot.conn, slot.process.sentinel)]

    def _slot_of(self, waitable: Any) -> _WorkerSlot | None:
        for slot in self.slots:
            if waitable is slot.conn or (slot.process is not None and waitable == slot.process.sentinel):
                return slot
        return None

    def _on_ready(self, waitable: Any) -> None:
        slot = self._slot_of(waitable)
        if slot is None:
            return
        if waitable is slot.conn:
            try:
                while slot.conn is not None and slot.conn.poll():
                    self._on_message(slot, slot.conn.recv())
            except (EOFError, OSError):
                self._on_death(slot)
        elif slot.process is not None and not slot.process.is_alive():
            self._on_death(slot)

    def _on_message(self, slot: _WorkerSlot, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            slot.ready, slot.early_deaths = True, 0
        elif kind == "progress":
            if slot.task is not None and slot.task.number == message[1]:
                slot.progress = message[2]
        elif kind == "result":
            if slot.task is not None and slot.task.number == message[1]:
                self._finish(slot, EvalResult.from_dict(message[2]))
        elif kind == "setup_failed":
            raise ExecutorError(f"worker {slot.name} could not set up the evaluator: {message[1]}")

    def _on_death(self, slot: _WorkerSlot) -> None:
        process = slot.process
        if process is not None:
            # A closed pipe can be seen before the process is reaped; wait briefly so the
            # reason names the real exit code or signal.
            process.join(timeout=2.0)
        code = process.exitcode if process is not None else None
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if not slot.ready:
            slot.early_deaths += 1
            if slot.early_deaths >= 3:
                raise ExecutorError(f"worker {slot.name} died three times while starting ({how}){_main_guard_hint()}")
        self._lose(slot, f"worker {slot.name} died ({how})")
        self._restart(slot)

    def worker_pids(self) -> list[int]:
        return [slot.pid for slot in self.slots if slot.pid is not None]
