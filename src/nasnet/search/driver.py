"""The search driver: ask the strategy, run trials on an executor, record, tell.

Every result is committed to the store before the strategy hears of it. The
strategy's state is snapshotted every ``snapshot_every`` results; on resume
the latest snapshot is loaded and the asks and results recorded after it are
replayed, so the strategy continues exactly where it was, whatever stopped
it (Ctrl-C, a crash, kill -9). Trials that were in flight run again. A
snapshot whose checksum fails (or that will not load) is never used: the
previous snapshot, or else the strategy's initial state, takes its place with
a longer replay, and a `SnapshotWarning` says so.

One record travels the whole way: the evaluator's `EvalResult` comes back from
the executor with its trial number, worker and attempt, the driver adds the
reward, the store returns the `FrozenTrial`, and the strategy is told that.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections import Counter, defaultdict

from nasnet.errors import exception_summary
from nasnet.evaluate import Evaluator
from nasnet.evaluate.rewards import RewardError, RewardFn
from nasnet.execution.base import Executor, TrialTask
from nasnet.search.strategy import Strategy
from nasnet.search.views import Progress, SearchState, SearchSummary
from nasnet.space.canonical import genotype_hash
from nasnet.space.serialization import genotype_to_dict
from nasnet.store.sqlite import ExperimentStore, Snapshot
from nasnet.store.trial import FINISHED_STATES, EvalResult, FrozenTrial, TrialState

SNAPSHOT_SECONDS = 30.0  # a snapshot at least this often, however slow the trials
HISTORY_SECONDS = 2.0  # a snapshot records what the strategy learned once this long has passed (see `snapshot`)
HISTORY_GROWTH = 1.25  # ... and whenever the results told have grown by this factor since the last record


class SnapshotWarning(RuntimeWarning):
    """A strategy snapshot was damaged or would not load; an older one, or a full replay, took its place."""


class SearchDriver:
    """Runs one session of an experiment: restore, requeue, then the ask/evaluate/tell loop."""

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
        self.space = config.search_space()
        self.strategy = strategy
        self.evaluator = evaluator
        self.reward = reward
        self.executor = executor
        self.progress = progress
        self.trial_view = getattr(progress, "trial", None)  # a view that hears of each finished trial
        self.snapshot_every = snapshot_every
        self.dedup = config.dedup
        self.budget = config.trials
        self.hours = config.hours
        self.in_flight: dict[int, FrozenTrial] = {}
        self.running_hash: dict[str, int] = {}
        self.waiting: dict[str, list[FrozenTrial]] = defaultdict(list)
        self.counts = Counter(store.counts())
        self.since_snapshot = 0
        self.last_snapshot = time.monotonic()
        self.last_learned = -math.inf
        self.learned_told = 0
        self.session_start = time.monotonic()
        self.session_end: float | None = None
        self.session_completed = 0
        self.divergences = 0
        self.consistent = True
        best = store.best(1)
        self.best: FrozenTrial | None = best[0] if best else None
        self.previous_elapsed = store.elapsed_seconds

    # ---- restoring --------------------------------------------------------------------------

    def restore(self) -> None:
        seq = self._load_snapshot()
        for kind, trial in self.store.events_after(seq):
            if kind == "ask":
                proposal = self.strategy.ask()
                if tuple(proposal.decisions) != tuple(trial.decisions):
                    self.divergences += 1  # the store's trials are the truth; the strategy carries on
            else:
                self.strategy.tell(trial)

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

    def requeue(self) -> None:
        """Run again the trials a previous session left running, and settle those left waiting."""
        for trial in self.store.trials(TrialState.RUNNING):
            self._submit(self.store.start_trial(trial.number))
        for trial in self.store.trials(TrialState.WAITING):
            original = self.store.find_result(trial.genotype_hash)
            if original is not None:
                self._finish_waiter(trial, original)
            elif trial.genotype_hash in self.running_hash:
                self.waiting[trial.genotype_hash].append(trial)
            else:  # its original is gone: train it itself
                self._count(TrialState.WAITING, -1)
                self._count(TrialState.RUNNING, +1)
                self._submit(self.store.start_trial(trial.number))

    # ---- the loop ---------------------------------------------------------------------------

    def _time_left(self) -> float | None:
        if self.hours is None:
            return None
        return self.hours * 3600 - self.previous_elapsed - (time.monotonic() - self.session_start)

    def _count(self, state: TrialState | str, change: int) -> None:
        # A TrialState equals and hashes as its string, so it finds the store's string keys itself.
        self.counts[state] = max(0, self.counts[state] + change)

    def _open_slots(self) -> int:
        taken = (*FINISHED_STATES, TrialState.RUNNING, TrialState.WAITING)
        return self.budget - sum(self.counts[state] for state in taken)

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
                for result in self.executor.wait(timeout=timeout):
                    self._handle(result)
                if self.progress:
                    self.progress.update(self.state())
        finally:
            if self.consistent:  # else the last snapshot plus the store's events replay correctly
                self.snapshot(final=True)
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
                trial = self.store.add_trial(genotype, digest, proposal.decisions, proposal.info, cached=previous)
                self._told(trial)
                return
            if digest in self.running_hash:
                trial = self.store.add_trial(genotype, digest, proposal.decisions, proposal.info, TrialState.WAITING)
                self._count(TrialState.WAITING, +1)
                self.waiting[digest].append(trial)
                return
        trial = self.store.add_trial(genotype, digest, proposal.decisions, proposal.info)
        self._count(TrialState.RUNNING, +1)
        self._submit(trial)

    def _submit(self, trial: FrozenTrial) -> None:
        self.in_flight[trial.number] = trial
        self.running_hash[trial.genotype_hash] = trial.number
        self.executor.submit(TrialTask(trial.number, genotype_to_dict(trial.genotype), trial.attempts))

    def _scored(self, result: EvalResult) -> tuple[EvalResult, float | None]:
        """The result with its reward; a result the reward cannot score becomes a failure saying why."""
        if not result.ok:
            return result, None
        if result.accuracy is None:
            return result.but_failed("the evaluator returned no accuracy"), None
        try:
            return result, float(self.reward(result.accuracy, result.metrics))
        except (RewardError, ArithmeticError, ValueError, TypeError) as err:
            return result.but_failed(f"reward: {err}"), None

    def _handle(self, result: EvalResult) -> None:
        trial = self.in_flight.pop(result.number, None)
        if trial is None:
            return  # a duplicate outcome from a retried task
        result, reward = self._scored(result)
        self.consistent = False  # until the strategy has been told what the store now holds
        finished = self.store.finish_trial(trial, result, reward)
        self._count(TrialState.RUNNING, -1)
        self.session_completed += 1
        self._told(finished)
        if self.running_hash.get(trial.genotype_hash) == trial.number:
            del self.running_hash[trial.genotype_hash]
        for waiter in self.waiting.pop(trial.genotype_hash, []):
            self._finish_waiter(waiter, finished)

    def _finish_waiter(self, waiter: FrozenTrial, original: FrozenTrial) -> None:
        """``waiter`` takes the result of ``original``, an equivalent genotype trained meanwhile."""
        self._count(TrialState.WAITING, -1)
        self.consistent = False
        taken = dataclasses.replace(original.result(), number=waiter.number, worker=None, attempt=waiter.attempts)
        cached_from = original.cached_from or original.number
        self._told(self.store.finish_trial(waiter, taken, original.reward, cached_from=cached_from))

    def _told(self, trial: FrozenTrial) -> None:
        self._count(trial.state, +1)
        if trial.cached_from is not None:
            self._count("cached", +1)
        value = trial.value
        if value is not None and (self.best is None or value > (self.best.reward or 0)):
            self.best = trial
        self.strategy.tell(trial)
        self.consistent = True
        if self.trial_view is not None:
            self.trial_view(trial)
        self.since_snapshot += 1
        if self.since_snapshot >= self.snapshot_every or time.monotonic() - self.last_snapshot > SNAPSHOT_SECONDS:
            self.snapshot()

    def snapshot(self, final: bool = False) -> None:
        strategy = self.strategy
        learned = None
        # What the strategy learned goes into its history at the end, and otherwise when HISTORY_SECONDS
        # have passed or the results told have grown by HISTORY_GROWTH since the last record: summarising
        # a policy costs tens of milliseconds, nothing beside a child's training but much beside thousands
        # of instant synthetic trials, which still get a record at geometrically spaced counts.
        grown = strategy.told >= HISTORY_GROWTH * self.learned_told
        if final or grown or time.monotonic() - self.last_learned >= HISTORY_SECONDS:
            learned = strategy.learned()
            self.last_learned, self.learned_told = time.monotonic(), max(1, strategy.told)
        self.store.save_snapshot(strategy.name, strategy.to_bytes(), learned=learned, told=strategy.told)
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
