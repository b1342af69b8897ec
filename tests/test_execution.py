import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from nasnet.evaluate import EvalResult, Evaluator, SyntheticEvaluator, TrainingEvaluator
from nasnet.execution import (
    EXECUTORS,
    ExecutorError,
    InProcessExecutor,
    LocalExecutor,
    PoolExecutor,
    TrialTask,
    list_executors,
    make_executor,
)
from nasnet.execution.pool import Slot
from nasnet.search import search
from nasnet.store import ExperimentStore

ROOT = Path(__file__).resolve().parents[1]


# ---- no processes left behind -------------------------------------------------------------------


def _process_table() -> dict[int, tuple[int, str]]:
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0])  # (ppid, state)
    return table


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def descendants(pid: int) -> set[int]:
    """Live descendants, except multiprocessing's resource tracker (it lives as long as its parent)."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for child, (parent, state) in table.items():
        if state != "Z":
            children.setdefault(parent, []).append(child)
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return {p for p in found if b"resource_tracker" not in _cmdline(p)}


def _ray_processes() -> set[int]:
    pids = set()
    for pid in _process_table():
        cmdline = _cmdline(pid)
        if b"raylet" in cmdline or b"gcs_server" in cmdline or cmdline.startswith(b"ray::"):
            pids.add(pid)
    return pids


@pytest.fixture
def no_leftovers():
    before = descendants(os.getpid())
    ray_before = _ray_processes()
    yield
    deadline = time.time() + 20
    while time.time() < deadline:
        left = (descendants(os.getpid()) - before) | (_ray_processes() - ray_before)
        if not left:
            return
        time.sleep(0.25)
    raise AssertionError(f"processes left behind: {sorted(left)}")


# ---- a tiny real search ---------------------------------------------------------------------------


@pytest.fixture
def tiny_data(tmp_path):
    from test_data import make_image_folder

    return make_image_folder(tmp_path / "pets", splits=("",), classes=("a", "b", "c", "d"), per_class=40, size=(16, 16))


def tiny_training(data, epochs=2):
    return TrainingEvaluator(
        str(data), "smoke", {"train_subset": None, "val_subset": None, "epochs": epochs, "batch_size": 16}, val_size=16
    )


def _kill_a_busy_worker(executor, pids_of, killed: list, settle: float = 0.3, timeout: float = 120) -> None:
    """SIGKILL the process of a worker that has been busy with a trial for ``settle`` seconds."""
    deadline = time.time() + timeout
    pids = None
    pids_known_at = float("inf")
    while time.time() < deadline:
        workers = executor.workers()
        if workers and not pids:
            pids = [pid for pid in pids_of(executor) if pid] or None
            if pids is None or len(pids) != len(workers):
                pids = None
                time.sleep(0.05)
            pids_known_at = time.time()
            continue
        # A Ray actor answers its pid only between trials, so the driver may not yet know that the
        # trial before has ended: only a trial dispatched after the pids arrived is a safe target.
        busy = [
            i
            for i, w in enumerate(workers)
            if w.busy and w.since and w.since > pids_known_at and time.time() - w.since > settle
        ]
        if pids and busy:
            killed.append((workers[busy[0]].trial, pids[busy[0]]))
            os.kill(pids[busy[0]], signal.SIGKILL)
            return
        time.sleep(0.05)


def test_local_pool_survives_a_killed_worker(tmp_path, tiny_data, no_leftovers):
    executor = LocalExecutor(workers=2)
    killed: list = []
    killer = threading.Thread(
        target=_kill_a_busy_worker, args=(executor, lambda e: e.worker_pids(), killed), daemon=True
    )
    killer.start()
    summary = search("random", out=tmp_path / "exp", evaluator=tiny_training(tiny_data), trials=6, executor=executor)
    killer.join()
    assert killed, "no worker was busy long enough to be killed"
    assert summary.counts["complete"] + summary.counts["failed"] == 6
    assert summary.counts["running"] == 0 and summary.counts["failed"] == 0
    with ExperimentStore.open(tmp_path / "exp", readonly=True) as store:
        trials = store.trials()
    assert [t.number for t in trials] == [1, 2, 3, 4, 5, 6]
    assert [t.number for t in trials if t.attempts == 2] == [killed[0][0]]  # the killed trial ran again
    assert all(t.attempts <= 2 for t in trials)
    assert all(0 <= t.accuracy <= 1 for t in trials)
    assert sum(w.extra["restarts"] for w in executor.workers()) == 1  # the killed worker was replaced
    assert not os.path.exists(f"/proc/{killed[0][1]}") or _process_table().get(killed[0][1], (0, "Z"))[1] == "Z"


def test_a_trial_over_its_time_limit_is_stopped(tmp_path, no_leftovers):
    executor = LocalExecutor(workers=1, trial_timeout=1.0)
    evaluator = {"kind": "synthetic", "delay": 30.0}
    start = time.time()
    summary = search("random", out=tmp_path / "exp", evaluator=evaluator, trials=2, executor=executor)
    assert time.time() - start < 45
    assert summary.counts["failed"] == 2
    with ExperimentStore.open(tmp_path / "exp", readonly=True) as store:
        assert {t.failure for t in store.trials()} == {"timed out after 1 s"}


def test_a_worker_that_keeps_dying_fails_its_trial(tmp_path, no_leftovers):
    executor = LocalExecutor(workers=1, max_attempts=2)
    evaluator = {"kind": "import", "target": "test_execution:make_suicidal"}
    summary = search("random", out=tmp_path / "exp", evaluator=evaluator, trials=1, executor=executor)
    assert summary.counts["failed"] == 1
    with ExperimentStore.open(tmp_path / "exp", readonly=True) as store:
        trial = store.trials()[0]
    assert trial.failure.startswith("worker w0 (cpu) died (signal 9); gave up after 2 attempts")
    assert trial.attempts == 2


class Suicidal(Evaluator):
    kind = "suicidal"

    def spec(self):
        return {"kind": "import", "target": "test_execution:make_suicidal"}

    def evaluate(self, genotype, trial=0):
        os.kill(os.getpid(), signal.SIGKILL)


def make_suicidal():
    return Suicidal()


class OutOfMemoryEveryOther(Evaluator):
    """Trains a tiny model, but runs out of memory on odd trials (the trainer reports it)."""

    kind = "oom"

    def spec(self):
        return {"kind": "import", "target": "test_execution:make_oom"}

    def evaluate(self, genotype, trial=0):
        from conftest import random_splits
        from nasnet.nn import build_model
        from nasnet.train import train

        model = build_model(genotype, cells_per_stack=1, base_filters=4, num_classes=4, image_size=16, aux_head=False)
        if trial % 2:

            def exhausted(*args, **kwargs):
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")

            model.forward = exhausted
        result = train(model, random_splits(count=32), "smoke", device="cpu", train_subset=None, val_subset=None)
        if not result.ok:
            return EvalResult.failed(result.failure)
        return EvalResult.complete(result.accuracy, {"pid": os.getpid()})


def make_oom():
    return OutOfMemoryEveryOther()


def test_out_of_memory_fails_the_child_and_keeps_the_worker(tmp_path, no_leftovers):
    executor = LocalExecutor(workers=1)
    evaluator = {"kind": "import", "target": "test_execution:make_oom"}
    summary = search("random", out=tmp_path / "exp", evaluator=evaluator, trials=4, executor=executor)
    assert (summary.counts["complete"], summary.counts["failed"]) == (2, 2)
    with ExperimentStore.open(tmp_path / "exp", readonly=True) as store:
        trials = store.trials()
    assert {t.failure for t in trials if t.state == "failed"} == {
        "out of memory on cpu: CUDA out of memory. Tried to allocate 8.00 GiB"
    }
    assert len({t.metrics["pid"] for t in trials if t.state == "complete"}) == 1  # the same, healthy worker
    assert all(t.attempts == 1 for t in trials)


def test_local_executor_refuses_in_process_functions(tmp_path):
    with pytest.raises(ExecutorError, match="cannot receive an in-process function"):
        search("random", out=tmp_path / "exp", evaluator=lambda g: 0.5, trials=1, executor=LocalExecutor())
    assert not (tmp_path / "exp").exists()  # refused before anything was written


def test_missing_data_is_reported_before_anything_starts(tmp_path, no_leftovers):
    from nasnet.data import DataError

    bad = TrainingEvaluator(str(tmp_path / "missing-data"), "smoke")
    with pytest.raises(DataError, match="missing-data: no such file"):
        search("random", out=tmp_path / "exp", evaluator=bad, trials=1, executor=LocalExecutor(workers=1))
    assert not (tmp_path / "exp").exists()


class BrokenSetup(Evaluator):
    def spec(self):
        return {"kind": "import", "target": "test_execution:make_broken"}

    def setup(self, device=None, data=None):
        raise RuntimeError("no such device")

    def evaluate(self, genotype, trial=0):
        raise AssertionError("never called")


def make_broken():
    return BrokenSetup()


def test_worker_setup_failure_is_reported(tmp_path, no_leftovers):
    evaluator = {"kind": "import", "target": "test_execution:make_broken"}
    with pytest.raises(ExecutorError, match="could not set up the evaluator: RuntimeError: no such device"):
        search("random", out=tmp_path / "exp", evaluator=evaluator, trials=1, executor=LocalExecutor(workers=1))


def _restore_sigint() -> None:
    # A shell that runs the tests in the background starts them with SIGINT ignored, and children
    # inherit that; Python only turns SIGINT into KeyboardInterrupt when it is not ignored at start.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_shut_every_worker_down(tmp_path, no_leftovers, signum, exit_code):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    directory = tmp_path / "exp"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nasnet",
            "search",
            "--strategy",
            "random",
            "--evaluator",
            "synthetic",
            "--synthetic-delay",
            "0.5",
            "--trials",
            "100",
            "--workers",
            "2",
            "--out",
            str(directory),
            "--no-progress",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_restore_sigint,
    )
    deadline = time.time() + 60
    workers: set[int] = set()
    while time.time() < deadline and len(workers) < 2:
        workers = descendants(process.pid)
        time.sleep(0.2)
    time.sleep(2.0)
    assert len(workers) >= 2
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == exit_code, err
    assert "Traceback" not in err and f"nasnet search --resume {directory}" in err
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")]
    with ExperimentStore.open(directory, readonly=True) as store:
        assert store.load_snapshot() is not None  # the strategy's state was saved on the way out


# ---- Ray -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_cluster_search_survives_a_killed_worker(tmp_path, tiny_data, no_leftovers):
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # find, not import: the executor configures Ray before importing it
        pytest.skip("ray is not installed")
    from nasnet.execution.ray_executor import RayExecutor

    executor = RayExecutor(workers=2, local_num_cpus=2)
    killed: list = []
    pids: dict[str, list[int]] = {}

    def pids_of(e):
        if "pids" not in pids:
            pids["pids"] = e.worker_pids()
        return pids["pids"]

    killer = threading.Thread(target=_kill_a_busy_worker, args=(executor, pids_of, killed, 0.5), daemon=True)
    killer.start()
    summary = search(
        "random", out=tmp_path / "exp", evaluator=tiny_training(tiny_data, epochs=3), trials=6, executor=executor
    )
    killer.join()
    assert killed, "no Ray worker was busy long enough to be killed"
    assert summary.counts["complete"] == 6 and summary.counts["running"] == 0
    with ExperimentStore.open(tmp_path / "exp", readonly=True) as store:
        trials = store.trials()
    assert [t.number for t in trials if t.attempts == 2] == [killed[0][0]]  # the killed trial ran again
    assert {t.worker for t in trials} <= {"ray-0", "ray-1"}


def test_wait_ready_returns_once_every_worker_has_set_up(no_leftovers):
    executor = LocalExecutor(workers=2)
    executor.start(SyntheticEvaluator())
    try:
        assert executor.wait_ready(timeout=120)
        assert [w.extra["ready"] for w in executor.workers()] == [True, True]
    finally:
        executor.shutdown()


class _Reporting(Evaluator):
    def spec(self):
        return {"kind": "import", "target": "test_execution:make_reporting"}

    def evaluate(self, genotype, trial=0):
        self.progress(phase="training", epoch=2, epochs=5)
        time.sleep(1.5)
        return EvalResult.complete(0.5)


def make_reporting():
    return _Reporting()


def test_workers_report_their_childs_progress(no_leftovers):
    from nasnet.search.progress import child_phase

    executor = LocalExecutor(workers=1)
    executor.start(make_reporting())
    try:
        executor.submit(TrialTask(1, _genotype()))
        seen, results, deadline = None, [], time.time() + 60
        while not results and time.time() < deadline:
            results = executor.wait(timeout=0.1)
            seen = seen or executor.workers()[0].extra["progress"]
        assert seen == {"phase": "training", "epoch": 2, "epochs": 5}
        assert (
            child_phase(seen) == "epoch 2/5"
            and child_phase(None) == "-"
            and child_phase({"phase": "testing"}) == "testing"
        )
        assert results[0].ok
        assert (results[0].number, results[0].worker, results[0].attempt) == (1, "w0 (cpu)", 1)
    finally:
        executor.shutdown()


def _genotype() -> dict:
    from nasnet.space import NASNET_A
    from nasnet.space.serialization import genotype_to_dict

    return genotype_to_dict(NASNET_A)


def _wait_for_results(executor: LocalExecutor, count: int = 1, timeout: float = 120) -> list[EvalResult]:
    results, deadline = [], time.time() + timeout
    while len(results) < count and time.time() < deadline:
        results += executor.wait(timeout=0.2)
    return results


# ---- attempts and retries -------------------------------------------------------------------------


def test_a_retried_task_moves_its_attempt_and_its_tries_on_by_one():
    task = TrialTask(3, {"cells": "x"}, attempt=2)
    assert task.tries == 1
    again = task.retry()
    assert again == TrialTask(3, {"cells": "x"}, attempt=3, tries=2)
    assert again.retry() == TrialTask(3, {"cells": "x"}, attempt=4, tries=3)
    assert (task.attempt, task.tries) == (2, 1)  # a task is never changed in place
    assert TrialTask(**again.to_dict()) == again  # what crosses to a worker rebuilds the same task


class _DyingPool(PoolExecutor[Slot]):
    """A pool whose only worker dies during every trial: the retry rule, without processes."""

    def __init__(self, max_attempts: int) -> None:
        super().__init__(max_attempts=max_attempts)
        self.slots = [Slot(0, "fake-0")]
        self.sent: list[TrialTask] = []

    def start(self, evaluator: Evaluator) -> None:
        pass

    def _send(self, slot: Slot, task: TrialTask) -> bool:
        self.sent.append(task)
        return True

    def _wait_events(self, timeout: float | None) -> None:
        for slot in self.slots:
            if slot.task is not None:
                self._lose(slot, f"worker {slot.name} died (signal 9)")

    def _abort(self, slot: Slot) -> None:
        raise AssertionError("no time limit here")


def test_a_retry_that_gives_up_reports_the_attempts_of_the_trial():
    executor = _DyingPool(max_attempts=3)
    executor.submit(TrialTask(7, {}, attempt=4))  # three attempts in earlier sessions
    results: list[EvalResult] = []
    for _ in range(10):
        results += executor.wait(timeout=0)
        if results:
            break
    assert [(t.attempt, t.tries) for t in executor.sent] == [(4, 1), (5, 2), (6, 3)]
    [result] = results
    assert not result.ok and result.failure == "worker fake-0 died (signal 9); gave up after 3 attempts"
    assert (result.number, result.attempt, result.worker) == (7, 6, "-")
    assert executor.in_flight == 0


def test_a_worker_that_keeps_dying_gives_up_with_the_trials_attempt(no_leftovers):
    executor = LocalExecutor(workers=1, max_attempts=2)
    executor.start(make_suicidal())
    try:
        executor.submit(TrialTask(5, _genotype(), attempt=3))
        [result] = _wait_for_results(executor)
    finally:
        executor.shutdown()
    assert result.failure.startswith("worker w0 (cpu) died (signal 9); gave up after 2 attempts")
    assert (result.number, result.attempt) == (5, 4)
    assert executor.workers()[0].extra["restarts"] == 2


def test_a_timed_out_trial_keeps_its_attempt(no_leftovers):
    executor = LocalExecutor(workers=1, trial_timeout=1.0)
    executor.start(SyntheticEvaluator(delay=30.0))
    try:
        executor.submit(TrialTask(2, _genotype(), attempt=2))
        [result] = _wait_for_results(executor)
    finally:
        executor.shutdown()
    assert (result.failure, result.seconds) == ("timed out after 1 s", 1.0)
    assert (result.number, result.attempt, result.worker) == (2, 2, "w0 (cpu)")


# ---- executors by name ------------------------------------------------------------------------------


@EXECUTORS.register("toy-inprocess")
class ToyExecutor(InProcessExecutor):
    """An executor plug-in: one file, one class, one registration line."""

    name = "toy-inprocess"

    def __init__(self, device: str | None = None, max_attempts: int = 3, label: str = "toy") -> None:
        super().__init__(device)
        self.max_attempts = max_attempts
        self.label = label


def test_an_executor_registered_outside_the_package_is_made_by_name():
    assert "toy-inprocess" in list_executors() and list_executors() == sorted(list_executors())
    assert {"local", "inprocess", "ray"} <= set(EXECUTORS)
    executor = make_executor("toy-inprocess", device="cpu", max_attempts=2, label="mine")
    assert isinstance(executor, ToyExecutor) and (executor.max_attempts, executor.label) == (2, "mine")
    with pytest.raises(ExecutorError, match=r"^the toy-inprocess executor does not use workers \(--workers\)"):
        make_executor("toy-inprocess", workers=2)
    with pytest.raises(
        ExecutorError, match=r"^max_attempts \(--max-attempts\) must be an integer from 1 to 1000, got 0$"
    ):
        make_executor("toy-inprocess", max_attempts=0)
    with pytest.raises(ExecutorError, match="--device 'banana'"):
        make_executor("toy-inprocess", device="banana")
    with pytest.raises(ExecutorError, match=r"unknown executor 'toy'; known: .*toy-inprocess"):
        make_executor("toy")
    executor.start(SyntheticEvaluator())
    executor.submit(TrialTask(4, _genotype(), attempt=2))
    [result] = executor.wait()
    assert result.ok and (result.number, result.worker, result.attempt) == (4, "main", 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "workers (--workers) must be an integer from 1 to 1024, got 0"),
        ({"workers": True}, "workers (--workers) must be an integer from 1 to 1024, got True"),
        ({"max_attempts": 1001}, "max_attempts (--max-attempts) must be an integer from 1 to 1000, got 1001"),
        ({"trial_timeout": 0}, "trial_timeout (--trial-timeout) must be a finite number > 0, got 0"),
        ({"trial_timeout": float("inf")}, "trial_timeout (--trial-timeout) must be a finite number > 0, got inf"),
    ],
)
def test_options_are_checked_the_same_by_name_and_by_constructor(options, message):
    with pytest.raises(ExecutorError) as by_name:
        make_executor("local", **options)
    with pytest.raises(ExecutorError) as by_constructor:
        LocalExecutor(**options)
    assert str(by_name.value) == str(by_constructor.value) == message


# ---- plug-ins reach the workers ---------------------------------------------------------------------


class _PluginProbe(Evaluator):
    def spec(self):
        return {"kind": "import", "target": "test_execution:make_plugin_probe"}

    def evaluate(self, genotype, trial=0):
        return EvalResult.complete(0.5, {"plugin": "nasnet_test_plugin_probe" in sys.modules})


def make_plugin_probe():
    return _PluginProbe()


def test_plugins_loaded_in_the_driver_are_loaded_in_every_worker(tmp_path, monkeypatch, no_leftovers):
    import nasnet.registry

    (tmp_path / "nasnet_test_plugin_probe.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(nasnet.registry, "_LOADED_PLUGINS", [])  # later tests' workers must not look for it
    monkeypatch.delitem(sys.modules, "nasnet_test_plugin_probe", raising=False)
    assert nasnet.registry.load_plugins(["nasnet_test_plugin_probe"]) == ["nasnet_test_plugin_probe"]
    executor = LocalExecutor(workers=1)
    executor.start(make_plugin_probe())
    try:
        executor.submit(TrialTask(1, _genotype()))
        [result] = _wait_for_results(executor)
    finally:
        executor.shutdown()
        sys.modules.pop("nasnet_test_plugin_probe", None)
    assert result.ok and result.metrics == {"plugin": True}
