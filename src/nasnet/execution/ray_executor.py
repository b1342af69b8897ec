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
* Ray is imported when the executor starts, never when this module is: nasnet
  works, and lists this executor, without Ray installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from dataclasses import dataclass
from typing import Any

from nasnet.evaluate import EvalResult, Evaluator, make_evaluator
from nasnet.execution.base import ExecutorError, TrialTask, require_evaluator_spec, run_task
from nasnet.execution.pool import PoolExecutor, Slot
from nasnet.execution.registry import EXECUTORS
from nasnet.registry import load_plugins, loaded_plugins

_NEEDS_RAY = "the ray executor needs Ray: pip install 'nasnet[ray]'"


def _import_ray(local: bool) -> Any:
    if local:
        # Ray resolves "localhost" to the machine's address unless it runs as a single-node
        # (laptop) cluster; this keeps a local Ray on 127.0.0.1 only. Read when ray is imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ExecutorError(_NEEDS_RAY) from None
    return ray


class TrialActor:
    """The body of a Ray worker: one evaluator, set up once, many trials.

    ``plugins`` are the driver's ``--plugin`` modules: an actor's process has imported none of
    them, and the evaluator (or an op, or a dataset) may be one they register.
    """

    def __init__(
        self, evaluator_spec: dict[str, Any], data: Any, threads: int, plugins: list[str] | None = None
    ) -> None:
        import ray
        import torch

        torch.set_num_threads(max(1, threads))
        device = "cuda" if ray.get_gpu_ids() else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES for the actor
        load_plugins(plugins or [])
        self.evaluator = make_evaluator(evaluator_spec)
        self.evaluator.setup(device, data)
        self.device = device

    def pid(self) -> int:
        return os.getpid()

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        return run_task(self.evaluator, TrialTask(**task)).to_dict()


@dataclass(kw_only=True)
class _ActorSlot(Slot):
    actor: Any
    call: Any = None  # the running trial's object ref
    probe: Any = None  # while Ray restarts the actor: a call that answers once it is back


@EXECUTORS.register("ray")
class RayExecutor(PoolExecutor[_ActorSlot]):
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
        super().__init__(max_attempts, trial_timeout)
        self.address = address
        self.requested_workers = workers
        self.num_cpus = num_cpus_per_trial
        self.num_gpus = num_gpus_per_trial
        self.local_num_cpus = local_num_cpus
        self.ray: Any = None
        self.started_ray = False
        self.data_ref: Any = None

    @classmethod
    def check_installed(cls) -> None:
        # find_spec, not import: Ray reads its environment when imported, which start() sets first
        if importlib.util.find_spec("ray") is None:
            raise ExecutorError(_NEEDS_RAY)

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
        threads, plugins = int(max(1, self.num_cpus)), loaded_plugins()
        self.slots = [
            _ActorSlot(index=i, name=f"ray-{i}", actor=actor_class.remote(spec, self.data_ref, threads, plugins))
            for i in range(count)
        ]

    # ---- the pool's hooks -----------------------------------------------------------------

    def _accepts(self, slot: _ActorSlot) -> bool:
        return slot.probe is None

    def _send(self, slot: _ActorSlot, task: TrialTask) -> bool:
        slot.call = slot.actor.run.remote(task.to_dict())
        return True

    def _wait_events(self, timeout: float | None) -> None:
        calls = {slot.call: slot for slot in self.slots if slot.call is not None}
        probes = {slot.probe: slot for slot in self.slots if slot.probe is not None}
        watched = [*calls, *probes]
        if not watched:
            if timeout:
                time.sleep(min(timeout, 0.05))
            return
        ready, _ = self.ray.wait(watched, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(watched, num_returns=len(watched), timeout=0)
        for ref in ready:
            if ref in probes:
                self._probed(probes[ref])
            else:
                self._collect(calls[ref])

    def _abort(self, slot: _ActorSlot) -> None:
        # Actor calls cannot be force-cancelled: kill the actor, Ray restarts it, and calls sent
        # meanwhile wait for it.
        slot.call = None
        self.ray.kill(slot.actor, no_restart=False)

    # ---- what actors say --------------------------------------------------------------------

    def _probe(self, slot: _ActorSlot) -> None:
        slot.probe = slot.actor.pid.remote()

    def _probed(self, slot: _ActorSlot) -> None:
        from ray.exceptions import ActorDiedError, RayActorError

        ref, slot.probe = slot.probe, None
        try:
            self.ray.get(ref)
        except ActorDiedError as err:
            raise ExecutorError(f"ray worker {slot.index} cannot be restarted: {err}") from None
        except RayActorError:  # still restarting: ask again shortly
            time.sleep(0.2)
            self._probe(slot)

    def _collect(self, slot: _ActorSlot) -> None:
        from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

        ref, slot.call = slot.call, None
        try:
            result = EvalResult.from_dict(self.ray.get(ref))
        except (RayActorError, WorkerCrashedError) as err:
            # The call was running on a healthy actor, so it counts as an attempt. Ray restarts the
            # actor in place; it takes trials again once it answers a probe.
            self._probe(slot)
            self._lose(slot, f"ray worker died ({type(err).__name__})")
            return
        except RayTaskError as err:
            result = EvalResult.failed(f"error: {str(err).splitlines()[0][:300]}")
        self._finish(slot, result)

    def worker_pids(self) -> list[int]:
        return [self.ray.get(slot.actor.pid.remote()) for slot in self.slots]

    def shutdown(self) -> None:
        if self.ray is None:
            return
        for slot in self.slots:
            with contextlib.suppress(Exception):
                self.ray.kill(slot.actor, no_restart=True)
        self.slots = []
        super().shutdown()
        self.data_ref = None
        if self.started_ray:
            self.ray.shutdown()
            self.started_ray = False
