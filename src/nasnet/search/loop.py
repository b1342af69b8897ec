"""The search loop: ask the strategy, run trials on an executor, record, tell.

Every result is committed to the store before the strategy hears of it. The
strategy's state is snapshotted every ``snapshot_every`` results; on resume
the latest snapshot is loaded and the asks and results recorded after it are
replayed, so the strategy continues exactly where it was, whatever stopped
it (Ctrl-C, a crash, kill -9). Trials that were in flight run again. A
snapshot whose checksum fails (or that will not load) is never used: the
previous snapshot, or else the strategy's initial state, takes its place with
a longer replay, and a `SnapshotWarning` says so.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nasnet.errors import NasnetError, exception_summary, short_repr
from nasnet.evaluate import EvalResult, Evaluator, make_evaluator
from nasnet.evaluate.rewards import RewardError, RewardFn, make_reward, reward_spec
from nasnet.execution import InProcessExecutor, LocalExecutor
from nasnet.execution.base import Executor, TrialTask, WorkerStatus
from nasnet.search.strategy import Strategy, Trial, make_strategy
from nasnet.space.canonical import genotype_hash
from nasnet.space.encoding import DEFAULT_SPACE, SearchSpace
from nasnet.space.serialization import genotype_to_dict
from nasnet.store.sqlite import (
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_RUNNING,
    STATUS_WAITING,
    TERMINAL,
    ExperimentStore,
    Snapshot,
    TrialRecord,
)

CONFIG_VERSION = 1
MAX_TRIALS = 10**12  # a budget beyond any search; larger numbers are typing mistakes


class SearchError(NasnetError):
    """A search could not start or continue."""


class SearchInterrupted(NasnetError):
    """The search was stopped by the user; it can be resumed."""


class SnapshotWarning(RuntimeWarning):
    """A strategy snapshot was damaged or would not load; an older one, or a full replay, took its place."""


@dataclass
class SearchState:
    """What a progress view shows."""

    directory: str
    strategy: str
    budget: int
    counts: dict[str, int]
    best_reward: float | None
    best_trial: int | None
    session_completed: int
    session_seconds: float
    workers: list[WorkerStatus]
    strategy_info: dict[str, Any]
    deadline_seconds: float | None = None

    @property
    def finished(self) -> int:
        return self.counts.get(STATUS_COMPLETE, 0) + self.counts.get(STATUS_FAILED, 0)

    @property
    def trials_per_second(self) -> float:
        return self.session_completed / self.session_seconds if self.session_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.trials_per_second
        if rate <= 0:
            return None
        eta = (self.budget - self.finished) / rate
        return min(eta, self.deadline_seconds) if self.deadline_seconds is not None else eta


class Progress(Protocol):
    def start(self, state: SearchState) -> None: ...
    def update(self, state: SearchState) -> None: ...
    def stop(self, state: SearchState) -> None: ...


@dataclass
class SearchSummary:
    directory: str
    strategy: str
    counts: dict[str, int]
    best: TrialRecord | None
    elapsed_seconds: float
    session_seconds: float
    session_trials: int
    stopped: str  # "budget", "time"
    replay_divergences: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["best"] = self.best.to_dict() if self.best else None
        return out


def _space_spec(space: SearchSpace) -> dict[str, Any]:
    return {"num_blocks": space.num_blocks, "ops": list(space.ops), "combines": list(space.combines)}


def space_from_spec(spec: dict[str, Any]) -> SearchSpace:
    """The search space an experiment's config records."""
    return SearchSpace(num_blocks=spec["num_blocks"], ops=tuple(spec["ops"]), combines=tuple(spec["combines"]))


class _Search:
    def __init__(
        self,
        store: ExperimentStore,
        strategy: Strategy,
        evaluator: Evaluator,
        reward: RewardFn,
        executor: Executor,
        progress: Progress | None,
        snapshot_every: int,
    ) -> None:
        config = store.config
        self.store = store
        self.config = config
        self.space = space_from_spec(config["space"])
        self.strategy = strategy
        self.evaluator = evaluator
        self.reward = reward
        self.executor = executor
        self.progress = progress
        self.snapshot_every = snapshot_every
        self.dedup = bool(config.get("dedup", True))
        self.budget = int(config["trials"])
        self.hours = config.get("hours")
        self.in_flight: dict[int, TrialRecord] = {}
        self.running_hash: dict[str, int] = {}
        self.waiting: dict[str, list[int]] = defaultdict(list)
        self.counts = Counter(store.counts())
        self.since_snapshot = 0
        self.last_snapshot = time.monotonic()
        self.session_start = time.monotonic()
        self.session_end: float | None = None
        self.session_completed = 0
        self.divergences = 0
        self.consistent = True
        best = store.best(1)
        self.best: TrialRecord | None = best[0] if best else None
        self.previous_elapsed = store.elapsed_seconds

    # ---- restoring --------------------------------------------------------------------------

    def restore(self) -> None:
        seq = self._load_snapshot()
        for kind, record in self.store.events_after(seq):
            if kind == "ask":
                proposal = self.strategy.ask()
                if tuple(proposal.decisions) != tuple(record.decisions):
                    self.divergences += 1  # the store's trials are the truth; the strategy carries on
            else:
                self.strategy.tell(self._trial(record), record.reward if record.status == STATUS_COMPLETE else None)

    def _load_snapshot(self) -> int:
        """Load the newest usable snapshot into the strategy; returns its event number (0: none was usable)."""
        initial = self.strategy.to_bytes()  # to undo a load that fails half-way
        rejected: list[tuple[Snapshot, str]] = []
        for snapshot in self.store.snapshots():
            problem = self._snapshot_problem(snapshot)
            if problem is None:
                try:
                    self.strategy.load_bytes(snapshot.state)
                except Exception as err:  # a snapshot without a checksum can hold anything
                    self.strategy.load_bytes(initial)
                    problem = "it does not load: " + " ".join(exception_summary(err).split())[:300]  # one line
            if problem is None:
                self._warn_rejected(rejected, snapshot)
                return snapshot.event_seq
            rejected.append((snapshot, problem))
        self._warn_rejected(rejected, None)
        return 0

    def _snapshot_problem(self, snapshot: Snapshot) -> str | None:
        if snapshot.damaged:
            return "damaged: its SHA-256 checksum does not match"
        if snapshot.strategy != self.strategy.name:
            return f"it belongs to strategy {snapshot.strategy!r}, not {self.strategy.name!r}"
        return None

    def _warn_rejected(self, rejected: list[tuple[Snapshot, str]], used: Snapshot | None) -> None:
        """One line: which snapshots were not used and why, and what was used instead."""
        if not rejected:
            return
        bad = "; ".join(f"the snapshot at event {snapshot.event_seq} ({problem})" for snapshot, problem in rejected)
        start = used.event_seq if used is not None else 0
        instead = (
            f"using the snapshot at event {start} and replaying the {self.store.event_seq - start} events after it"
            if used is not None
            else f"rebuilding the strategy by replaying all {self.store.event_seq} events from the start"
        )
        warnings.warn(
            f"{self.store.directory}: strategy snapshot not used: {bad}; {instead}", SnapshotWarning, stacklevel=5
        )

    @staticmethod
    def _trial(record: TrialRecord) -> Trial:
        return Trial(record.number, tuple(record.decisions), record.info)

    def requeue(self) -> None:
        for record in self.store.trials(STATUS_RUNNING):
            self.store.mark_started(record.number, None)
            record.attempts += 1
            self._submit(record)
        for record in self.store.trials(STATUS_WAITING):
            original = self.store.find_result(record.genotype_hash)
            if original is not None:
                self._finish_waiter(record.number, original)
            elif record.genotype_hash in self.running_hash:
                self.waiting[record.genotype_hash].append(record.number)
            else:  # its original is gone: train it itself
                self.store.mark_started(record.number, None)
                self._count(STATUS_WAITING, -1)
                self._count(STATUS_RUNNING, +1)
                record.attempts += 1
                self._submit(record)

    # ---- the loop ---------------------------------------------------------------------------

    def _time_left(self) -> float | None:
        if self.hours is None:
            return None
        return self.hours * 3600 - self.previous_elapsed - (time.monotonic() - self.session_start)

    def _count(self, status: str, change: int) -> None:
        self.counts[status] = max(0, self.counts[status] + change)

    def _open_slots(self) -> int:
        return self.budget - sum(self.counts[s] for s in (*TERMINAL, STATUS_RUNNING, STATUS_WAITING))

    def run(self) -> SearchSummary:
        stopped = "budget"
        if self.progress:
            self.progress.start(self.state())
        try:
            while True:
                time_left = self._time_left()
                if time_left is not None and time_left <= 0:
                    stopped = "time"
                while stopped != "time" and self.executor.in_flight < self.executor.capacity and self._open_slots() > 0:
                    self._propose()
                if self.executor.in_flight == 0:
                    if self._open_slots() > 0 and stopped != "time":
                        continue
                    break
                timeout = 0.5 if time_left is None else max(0.01, min(0.5, time_left))
                for outcome in self.executor.wait(timeout=timeout):
                    self._handle(outcome.number, outcome.result, outcome.worker, outcome.attempts)
                if self.progress:
                    self.progress.update(self.state())
        finally:
            if self.consistent:  # else the last snapshot plus the store's events replay correctly
                self.snapshot()
            self.store.add_elapsed(time.monotonic() - self.session_start)
            self.session_end = time.monotonic()
            if self.progress:
                self.progress.stop(self.state())
        return self.summary(stopped)

    def _propose(self) -> None:
        proposal = self.strategy.ask()
        genotype = self.space.from_decisions(proposal.decisions)
        digest = genotype_hash(genotype)
        if self.dedup:
            previous = self.store.find_result(digest)
            if previous is not None:
                self.consistent = False
                record = self.store.add_trial(genotype, digest, proposal.decisions, proposal.info, cached=previous)
                self._told(record)
                return
            if digest in self.running_hash:
                record = self.store.add_trial(genotype, digest, proposal.decisions, proposal.info, STATUS_WAITING)
                self._count(STATUS_WAITING, +1)
                self.waiting[digest].append(record.number)
                return
        record = self.store.add_trial(genotype, digest, proposal.decisions, proposal.info)
        self._count(STATUS_RUNNING, +1)
        self._submit(record)

    def _submit(self, record: TrialRecord) -> None:
        self.in_flight[record.number] = record
        self.running_hash[record.genotype_hash] = record.number
        self.executor.submit(TrialTask(record.number, genotype_to_dict(record.genotype), record.attempts))

    def _handle(self, number: int, result: EvalResult, worker: str, attempts: int = 1) -> None:
        record = self.in_flight.pop(number, None)
        if record is None:
            return  # a duplicate outcome from a retried task
        reward, status, failure = None, STATUS_FAILED, result.failure
        if result.ok and result.accuracy is not None:
            try:
                reward = float(self.reward(result.accuracy, result.metrics))
                status = STATUS_COMPLETE
            except (RewardError, ArithmeticError, ValueError, TypeError) as err:
                failure = f"reward: {err}"
        elif result.ok:
            failure = "the evaluator returned no accuracy"
        self.consistent = False  # until the strategy has been told what the store now holds
        finished = self.store.finish_trial(
            record,
            status,
            reward,
            result.accuracy,
            result.metrics,
            failure,
            result.seconds,
            worker,
            attempts=record.attempts + attempts - 1,
        )
        self._count(STATUS_RUNNING, -1)
        self.session_completed += 1
        self._told(finished)
        if self.running_hash.get(record.genotype_hash) == number:
            del self.running_hash[record.genotype_hash]
        for waiter in self.waiting.pop(record.genotype_hash, []):
            self._finish_waiter(waiter, finished)

    def _finish_waiter(self, number: int, original: TrialRecord) -> None:
        self._count(STATUS_WAITING, -1)
        self.consistent = False
        record = self.store.finish_trial(
            self.store.get_trial(number),
            original.status,
            original.reward,
            original.accuracy,
            original.metrics,
            original.failure,
            0.0,
            cached_from=original.cached_from or original.number,
        )
        self._told(record)

    def _told(self, record: TrialRecord) -> None:
        self._count(record.status, +1)
        if record.cached_from is not None:
            self._count("cached", +1)
        if record.status == STATUS_COMPLETE and (self.best is None or record.reward > (self.best.reward or 0)):
            self.best = record
        self.strategy.tell(self._trial(record), record.reward if record.status == STATUS_COMPLETE else None)
        self.consistent = True
        self.since_snapshot += 1
        if self.since_snapshot >= self.snapshot_every or time.monotonic() - self.last_snapshot > 30:
            self.snapshot()

    def snapshot(self) -> None:
        self.store.save_snapshot(self.strategy.name, self.strategy.to_bytes())
        self.since_snapshot = 0
        self.last_snapshot = time.monotonic()

    # ---- reporting --------------------------------------------------------------------------

    def state(self) -> SearchState:
        time_left = self._time_left()
        return SearchState(
            directory=str(self.store.directory),
            strategy=self.strategy.name,
            budget=self.budget,
            counts=dict(self.counts),
            best_reward=self.best.reward if self.best else None,
            best_trial=self.best.number if self.best else None,
            session_completed=self.session_completed,
            session_seconds=time.monotonic() - self.session_start,
            workers=self.executor.workers(),
            strategy_info=self.strategy.describe(),
            deadline_seconds=max(0.0, time_left) if time_left is not None else None,
        )

    def summary(self, stopped: str) -> SearchSummary:
        session = (self.session_end or time.monotonic()) - self.session_start
        best = self.store.best(1)
        return SearchSummary(
            directory=str(self.store.directory),
            strategy=self.strategy.name,
            counts=self.store.counts(),
            best=best[0] if best else None,
            elapsed_seconds=self.store.elapsed_seconds,
            session_seconds=session,
            session_trials=self.session_completed,
            stopped=stopped,
            replay_divergences=self.divergences,
        )


def _progress_view(progress: Progress | bool | None) -> Progress | None:
    if progress is True:
        from nasnet.report.progress import LineProgress  # a view, beside the CLI's live table

        return LineProgress()
    return progress or None


def _ready_executor(executor: Executor | None, evaluator: Evaluator, workers: int | None = None) -> Executor:
    """The executor to use (by default worker processes; a plain function can only run in this process),
    checked against ``evaluator``, and the evaluator's driver-side preparation done: all before anything
    is written."""
    if executor is not None and workers is not None:
        raise SearchError("give either executor= or workers= (the default executor's worker count), not both")
    if executor is None:
        in_process = evaluator.spec().get("kind") == "callable"
        executor = InProcessExecutor() if in_process else LocalExecutor(workers=workers)
    executor.validate(evaluator)
    evaluator.prepare()
    return executor


def _check_arguments(
    out: str | os.PathLike[str], trials: Any, hours: Any, snapshot_every: Any, resume: bool
) -> tuple[int | None, float | None]:
    """Refuse a bad budget or directory in one line, naming the command-line flag too; returns the budget
    as plain numbers (a NumPy integer becomes an int, so that the config stays JSON)."""
    flag = "--resume" if resume else "--out"
    try:
        path = os.fspath(out)
    except TypeError:
        raise SearchError(f"out ({flag}) must be a path, got {short_repr(out)}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path.strip():
        raise SearchError(f"out ({flag}) is empty: name the experiment directory")
    if "\0" in path:
        raise SearchError(f"out ({flag}) {short_repr(path)}: a path cannot hold a NUL character")
    if trials is not None and (
        isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or not 1 <= trials <= MAX_TRIALS
    ):
        raise SearchError(f"trials (--trials) must be an integer from 1 to {MAX_TRIALS:,}, got {short_repr(trials)}")
    if hours is not None:
        number = hours if isinstance(hours, numbers.Real) and not isinstance(hours, bool) else None
        try:
            finite = number is not None and math.isfinite(number)
        except OverflowError:  # an int too large for a float
            finite = False
        if not finite or number <= 0:
            raise SearchError(f"hours (--hours) must be a finite number > 0, got {short_repr(hours)}")
    if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int) or snapshot_every < 1:
        raise SearchError(f"snapshot_every must be an integer >= 1, got {short_repr(snapshot_every)}")
    if not resume:
        _check_can_make_directory(Path(path))
    return (None if trials is None else int(trials)), (None if hours is None else float(hours))


def _check_can_make_directory(directory: Path) -> None:
    """Refuse, before any long preparation, a ``--out`` that is a file or lies under one."""
    probe = directory
    while True:
        try:
            is_dir = probe.is_dir()
            exists = is_dir or probe.exists()
        except OSError as err:  # e.g. a name too long for the file system
            raise SearchError(f"--out {short_repr(str(directory), 200)}: cannot be used ({err.strerror})") from None
        if exists:
            break
        if probe.parent == probe:
            return
        probe = probe.parent
    if not is_dir:
        where = "" if probe == directory else f" ({probe} is a file)"
        raise SearchError(
            f"--out {short_repr(str(directory), 200)}: not a directory{where}; name a new or existing directory"
        )
    if probe != directory and not os.access(probe, os.W_OK | os.X_OK):
        raise SearchError(f"--out {short_repr(str(directory), 200)}: cannot create it: {probe} is not writable")


def search(
    strategy: str = "rl",
    *,
    out: str | os.PathLike[str],
    evaluator: Evaluator | dict[str, Any] | Any | None = None,
    trials: int | None = None,
    hours: float | None = None,
    reward: RewardFn | str | dict[str, Any] | None = "accuracy",
    seed: int = 0,
    strategy_options: dict[str, Any] | None = None,
    space: SearchSpace = DEFAULT_SPACE,
    dedup: bool = True,
    resume: bool = False,
    executor: Executor | None = None,
    progress: Progress | bool | None = True,
    snapshot_every: int = 100,
    overwrite: bool = False,
    workers: int | None = None,
) -> SearchSummary:
    """Run (or with ``resume=True`` continue) a search in the experiment directory ``out``.

    Args:
        strategy: ``rl`` (the paper's controller), ``random`` or ``evolution``.
        evaluator: an `Evaluator`, an evaluator spec such as
            ``{"kind": "train", "data": "cifar10"}`` or ``{"kind": "synthetic"}``,
            or a ``genotype -> accuracy`` callable.
        trials: the number of trials to finish (cached duplicates count).
        hours: stop proposing after this much search time (summed over sessions).
        reward: ``"accuracy"``, a `MnasReward`, a spec dict, or ``(accuracy, metrics) -> float``.
        strategy_options: the strategy's hyper-parameters, e.g. ``{"lr": 1e-3}``.
        dedup: reuse the result of an equivalent genotype instead of training it again.
        resume: continue the experiment in ``out``; ``trials`` and ``hours``, when
            given, replace the stored budget.
        executor: where trials run: by default a `LocalExecutor` (one worker
            process per GPU, or one on CPU), or this process for a plain function.
        workers: worker processes for the default executor (instead of one per GPU, or one on CPU).
        progress: ``True`` (the default) writes a line to stderr at the start, every 30 s and at the
            end (`LineProgress`); ``False`` or ``None`` is silent; or any `Progress` view.
        overwrite: replace (delete the trials of) an experiment already in ``out``;
            without it a new search refuses such a directory. A damaged database is never replaced.

    Every argument is checked before anything is written: ``trials`` must be an integer from 1 to
    10**12, ``hours`` a finite number > 0, ``seed`` an integer in [0, 2**63), strategy options of
    their annotated types; ``out`` must not be empty nor, for a new search, an existing file. The
    evaluator's `prepare` (for ``train``: loading the dataset and holding out ``val_size`` images)
    runs before the experiment directory is created, so a bad dataset or split leaves nothing behind.
    Each refusal is a one-line `SearchError` (or `StrategyError`, `EvaluatorError`, `RewardError`).
    """
    trials, hours = _check_arguments(out, trials, hours, snapshot_every, resume)
    directory = Path(out)
    if overwrite and resume:
        raise SearchError("overwrite=True (--overwrite) replaces an experiment; it cannot go with resume=True")
    if not resume:
        if trials is None and hours is None:
            raise SearchError("give a budget: trials=N and/or hours=H")
        if evaluator is None:
            raise SearchError("give an evaluator, e.g. {'kind': 'train', 'data': 'cifar10'} or {'kind': 'synthetic'}")
        ExperimentStore.check_can_create(directory, overwrite)  # before the evaluator's preparation, which may be long
        evaluator_obj = make_evaluator(evaluator)
        strategy_obj = make_strategy(strategy, space, seed, **(strategy_options or {}))
        reward_fn = make_reward(reward) if not callable(reward) or isinstance(reward, str) else reward
        executor = _ready_executor(executor, evaluator_obj, workers)
        config = {
            "version": CONFIG_VERSION,
            "strategy": strategy,
            "strategy_options": dict(strategy_options or {}),
            "seed": seed,
            "trials": trials if trials is not None else 2**62,
            "hours": hours,
            "evaluator": evaluator_obj.spec(),
            "reward": reward_spec(reward),
            "dedup": dedup,
            "space": _space_spec(space),
        }
        store = ExperimentStore.create(directory, config, overwrite=overwrite)
    else:
        store = ExperimentStore.open(directory)
        try:
            config = dict(store.config)
            evaluator_obj = make_evaluator(evaluator if evaluator is not None else config["evaluator"])
            reward_fn = reward if callable(reward) and reward != "accuracy" else make_reward(config["reward"])
            strategy_obj = make_strategy(
                config["strategy"], space_from_spec(config["space"]), config["seed"], **config["strategy_options"]
            )
            executor = _ready_executor(executor, evaluator_obj, workers)
            if trials is not None:
                config["trials"] = trials
            if hours is not None:
                config["hours"] = hours
            store.update_config(config)
        except BaseException:
            store.close()
            raise
    try:
        view = _progress_view(progress)
        runner = _Search(store, strategy_obj, evaluator_obj, reward_fn, executor, view, snapshot_every)
        runner.restore()
        executor.start(evaluator_obj)
        runner.requeue()
        try:
            return runner.run()
        except KeyboardInterrupt:
            raise SearchInterrupted(f"interrupted; continue with: nasnet search --resume {directory}") from None
    finally:
        executor.shutdown()
        store.close()
