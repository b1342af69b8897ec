"""The Ray executor (``pip install nasnet[ray]``): trials on a Ray cluster.

* ``address="auto"`` or ``"HOST:PORT"`` joins a running cluster; with no
  address a local Ray is started, bound to 127.0.0.1, and stopped at the end.
* Each worker is a Ray actor with its own ``num_cpus``/``num_gpus``. It builds
  the evaluator once, so its data and CUDA context stay resident.
* The driver loads the dataset once and puts it in Ray's object store; every
  actor maps that one copy, and nothing is shipped with a trial.
* A dead actor (a killed worker, a lost node) is restarted by Ray and its
  trial runs again, up to ``max_attempts``; then the trial is marked failed.
* Only the driver writes the experiment store: no worker needs the driver's disk.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from nasnet.evaluate import EvalResult, Evaluator, make_evaluator
from nasnet.execution.base import (
    Attempts,
    Executor,
    ExecutorError,
    TrialOutcome,
    TrialTask,
    WorkerStatus,
    require_evaluator_spec,
    run_task,
)


def _import_ray(local: bool) -> Any:
    if local:
        # Ray resolves "localhost" to the machine's address unless it runs as a single-node
        # (laptop) cluster; this keeps a local Ray on 127.0.0.1 only. Read when ray is imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ExecutorError("the ray executor needs Ray: pip install 'nasnet[ray]'") from None
    return ray


class TrialActor:
    """The body of a Ray worker: one evaluator, set up once, many trials."""

    def __init__(self, evaluator_spec: dict[str, Any], data: Any, threads: int) -> None:
        import ray
        import torch

        torch.set_num_threads(max(1, threads))
        device = "cuda" if ray.get_gpu_ids() else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES for the actor
        self.evaluator = make_evaluator(evaluator_spec)
        self.evaluator.setup(device, data)
        self.device = device

    def pid(self) -> int:
        return os.getpid()

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        return run_task(self.evaluator, TrialTask(**task)).to_dict()


@dataclass
class _Running:
    slot: int
    task: TrialTask
    started: float


class RayExecutor(Executor):
    """Runs trials as calls on a pool of Ray actors."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        num_cpus_per_trial: float = 1.0,
        num_gpus_per_trial: float | None = None,
        max_attempts: int = 3,
        trial_timeout: float | None = None,
        local_num_cpus: int | None = None,
    ) -> None:
        self.address = address
        self.requested_workers = workers
        self.num_cpus = num_cpus_per_trial
        self.num_gpus = num_gpus_per_trial
        self.trial_timeout = trial_timeout
        self.local_num_cpus = local_num_cpus
        self.ray: Any = None
        self.started_ray = False
        self.actors: list[Any] = []
        self.idle: list[int] = []
        self.running: dict[Any, _Running] = {}
        self.pending: deque[TrialTask] = deque()
        self.attempts = Attempts(max_attempts)
        self.completed: dict[int, int] = {}
        self.outcomes: list[TrialOutcome] = []
        self.data_ref: Any = None
        self.probes: dict[Any, int] = {}  # readiness checks of actors that Ray is restarting

    def validate(self, evaluator: Evaluator) -> None:
        require_evaluator_spec(self.name, evaluator)

    def start(self, evaluator: Evaluator) -> None:
        self.validate(evaluator)
        spec = evaluator.spec()
        ray = self.ray = _import_ray(local=self.address is None)
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
            if self.address is None:
                ray.init(num_cpus=self.local_num_cpus, **options)
            else:
                ray.init(address=self.address, **options)
            self.started_ray = True
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        num_gpus = self.num_gpus if self.num_gpus is not None else (1.0 if gpus else 0.0)
        by_cpu = int(float(resources.get("CPU", 1)) // self.num_cpus) if self.num_cpus else 1 << 20
        by_gpu = int(gpus // num_gpus) if num_gpus else 1 << 20
        count = self.requested_workers or max(1, min(by_cpu, by_gpu))
        shared = evaluator.shared_data()
        self.data_ref = ray.put(shared) if shared is not None else None  # one copy in the object store
        actor_class = ray.remote(TrialActor).options(
            num_cpus=self.num_cpus, num_gpus=num_gpus, max_restarts=-1, max_task_retries=0
        )
        self.actors = [actor_class.remote(spec, self.data_ref, int(max(1, self.num_cpus))) for _ in range(count)]
        self.idle = list(range(count))
        self.completed = {i: 0 for i in range(count)}

    @property
    def capacity(self) -> int:
        return len(self.actors)

    @property
    def in_flight(self) -> int:
        return len(self.pending) + len(self.running) + len(self.outcomes)

    def submit(self, task: TrialTask) -> None:
        self.pending.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        while self.pending and self.idle:
            task = self.pending.popleft()
            slot = self.idle.pop(0)
            self.attempts.started(task.number)
            ref = self.actors[slot].run.remote(task.__dict__)
            self.running[ref] = _Running(slot, task, time.time())

    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        ray = self.ray
        self._dispatch()
        watched = [*self.running, *self.probes]
        if not self.outcomes and watched:
            wait_timeout = timeout
            if self.trial_timeout is not None:
                remaining = [r.started + self.trial_timeout - time.time() for r in self.running.values()]
                wait_timeout = max(0.0, min([*remaining, timeout if timeout is not None else float("inf")]))
            ready, _ = ray.wait(watched, num_returns=1, timeout=wait_timeout)
            if ready:
                ready, _ = ray.wait(watched, num_returns=len(watched), timeout=0)
            for ref in ready:
                if ref in self.probes:
                    self._probed(ref)
                else:
                    self._collect(ref)
            self._check_timeouts()
        elif not watched and timeout:
            time.sleep(min(timeout, 0.05))
        self._dispatch()
        outcomes, self.outcomes = self.outcomes, []
        return outcomes

    def _probe(self, slot: int) -> None:
        self.probes[self.actors[slot].pid.remote()] = slot

    def _probed(self, ref: Any) -> None:
        from ray.exceptions import ActorDiedError, RayActorError

        slot = self.probes.pop(ref)
        try:
            self.ray.get(ref)
        except ActorDiedError as err:
            raise ExecutorError(f"ray worker {slot} cannot be restarted: {err}") from None
        except RayActorError:  # still restarting: ask again shortly
            time.sleep(0.2)
            self._probe(slot)
            return
        self.idle.append(slot)

    def _collect(self, ref: Any) -> None:
        from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

        running = self.running.pop(ref)
        number = running.task.number
        try:
            result = EvalResult.from_dict(self.ray.get(ref))
        except (RayActorError, WorkerCrashedError) as err:
            # The call was running on a healthy actor, so it counts as an attempt. Ray restarts the
            # actor in place; it takes trials again once it answers a probe.
            self._probe(running.slot)
            self._retry_or_fail(running.task, f"ray worker died ({type(err).__name__})")
            return
        except RayTaskError as err:
            result = EvalResult.failed(f"error: {str(err).splitlines()[0][:300]}")
        self.idle.append(running.slot)
        self.completed[running.slot] += 1
        self.outcomes.append(TrialOutcome(number, result, f"ray-{running.slot}", self.attempts.finished(number)))

    def _retry_or_fail(self, task: TrialTask, reason: str) -> None:
        self.attempts.retry_or_fail(task, reason, self.pending, self.outcomes)

    def _check_timeouts(self) -> None:
        if self.trial_timeout is None:
            return
        now = time.time()
        for ref, running in list(self.running.items()):
            if now - running.started > self.trial_timeout:
                del self.running[ref]
                # Actor calls cannot be force-cancelled: kill the actor, Ray restarts it.
                self.ray.kill(self.actors[running.slot], no_restart=False)
                self.idle.append(running.slot)
                number = running.task.number
                reason = f"timed out after {self.trial_timeout:g} s"
                self.outcomes.append(
                    TrialOutcome(
                        number,
                        EvalResult.failed(reason, self.trial_timeout),
                        f"ray-{running.slot}",
                        self.attempts.finished(number),
                    )
                )

    def worker_pids(self) -> list[int]:
        return [self.ray.get(actor.pid.remote()) for actor in self.actors]

    def workers(self) -> list[WorkerStatus]:
        busy = {r.slot: r for r in self.running.values()}
        return [
            WorkerStatus(
                name=f"ray-{i}",
                busy=i in busy,
                trial=busy[i].task.number if i in busy else None,
                since=busy[i].started if i in busy else None,
                completed=self.completed.get(i, 0),
            )
            for i in range(len(self.actors))
        ]

    def shutdown(self) -> None:
        if self.ray is None:
            return
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)
        self.actors, self.running, self.pending, self.idle, self.probes = [], {}, deque(), [], {}
        self.data_ref = None
        if self.started_ray:
            self.ray.shutdown()
            self.started_ray = False
