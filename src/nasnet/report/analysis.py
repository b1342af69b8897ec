"""The numbers behind `nasnet report` and `nasnet compare`, without plotting or HTML.

Everything here is plain Python and numpy over the trials an experiment store holds, so it can be
tested without a browser and reused from a notebook:

* `progress_curves`: the paper's Figure 6 (Section 4.4, "Efficiency of architecture search
  methods"): the mean reward of the top 1, 5, 25 and 100 *unique* models among the first n
  models sampled, and the best reward so far;
* `compare_at_budgets`: those figures at matched numbers of trials, and each experiment's
  difference from the first (the gap between RL and random search that Figure 6 shows);
* `pareto_front`: the trials no other trial beats on both reward and cost (mult-adds or
  parameters, the axes of the paper's Table 2 and Figure 5);
* `op_frequencies`: how often each op appears in the top trials against the whole sample;
* `learned_series`: the controller's probability of each choice over the search (Section 3's RNN
  controller, as `Strategy.learned` records it);
* `failure_groups`, `worker_utilisation`, `throughput`: failures and timing.

A trial's place on every x axis is its rank in the order the strategy proposed it (its number):
"the number of models sampled" of Figure 6.
"""

from __future__ import annotations

import heapq
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nasnet.errors import NasnetError, printable
from nasnet.store import ExperimentConfig, ExperimentStore, FrozenTrial, TrialState
from nasnet.store.config import UNLIMITED_TRIALS

TOP_KS: tuple[int, ...] = (1, 5, 25, 100)  # Figure 6 plots the top 1, 5 and 25; 100 shows the bulk of the good models
TOP_FRACTION = 0.1  # "the top 10% of trials", whose ops are counted against the whole sample
BUDGET_STEPS = (1.0, 2.5, 5.0)  # matched budgets 100, 250, 500, 1000, 2500, ...
COST_METRICS = ("mult_adds", "params")
CELL_KINDS = ("normal", "reduction")


class ReportError(NasnetError):
    """A report cannot be made as asked (a missing plotting library, an output path that cannot be written)."""


# ---- experiments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Experiment:
    """One experiment as read at one moment: its config, its trials (by number) and its strategy history."""

    label: str
    directory: str
    config: ExperimentConfig
    trials: tuple[FrozenTrial, ...]
    history: tuple[dict[str, Any], ...] = ()
    elapsed_seconds: float = 0.0  # the finished sessions' search time, as the store sums it
    session_seconds: float | None = None  # the session running now, if any (the store adds it only at its end)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        """Whether a search is running in it now (as far as the caller could tell)."""
        return self.session_seconds is not None

    @property
    def budget(self) -> int | None:
        return self.config.trials if self.config.trials < UNLIMITED_TRIALS else None

    @property
    def complete(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state == TrialState.COMPLETE and _finite(t.reward)]

    def wall_seconds(self) -> float:
        """The search's wall time: its sessions' time, or where none is recorded the span of its trials."""
        recorded = self.elapsed_seconds + (self.session_seconds or 0.0)
        if recorded > 0:
            return recorded
        return trial_span(self.trials)


def unique_labels(directories: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Short names for experiments: each directory's name, or more of its path where two names clash."""
    paths = [Path(os.path.abspath(d)) for d in directories]
    depth = 1
    while True:
        labels = ["/".join(p.parts[-depth:]) if len(p.parts) > 1 else str(p) for p in paths]
        clashes = len(set(labels)) < len(labels)
        if not clashes or depth >= max(len(p.parts) for p in paths):
            break
        depth += 1
    seen: Counter[str] = Counter()
    out = []
    for label in labels:  # the same directory twice: number the repeats
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def load_experiment(
    directory: str | os.PathLike[str], label: str | None = None, session_seconds: float | None = None
) -> Experiment:
    """Read an experiment without its lock (a search may be running in it), in one pass.

    ``session_seconds`` is how long a search now running in it has run (see `nasnet status`), which
    the store only counts when that session ends.
    """
    with ExperimentStore.open(directory, readonly=True) as store:
        config = store.config
        trials = tuple(store.trials())
        history = tuple(store.strategy_history())
        elapsed = store.elapsed_seconds
    counts = Counter(t.state.value for t in trials)
    full = {state.value: counts.get(state.value, 0) for state in TrialState}
    full["cached"] = sum(t.cached_from is not None for t in trials)
    return Experiment(
        label=label or Path(os.path.abspath(directory)).name,
        directory=os.fspath(directory),
        config=config,
        trials=trials,
        history=history,
        elapsed_seconds=elapsed,
        session_seconds=session_seconds,
        counts=full,
    )


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def trial_span(trials: Iterable[FrozenTrial]) -> float:
    """Seconds from the first trial's creation to the last one's end (0 without finished trials)."""
    created = [t.created_at for t in trials if t.created_at]
    finished = [t.finished_at for t in trials if t.finished_at]
    if not created or not finished:
        return 0.0
    return max(0.0, max(finished) - min(created))


def reward_target(reward: Mapping[str, Any]) -> tuple[str, float] | None:
    """``(metric, T)`` of a MnasNet-style reward ``ACC x (COST/T)^w``, else None."""
    if reward.get("kind") != "mnas":
        return None
    target, metric = reward.get("target"), reward.get("metric", "mult_adds")
    if not _finite(target) or metric not in COST_METRICS:
        return None
    return str(metric), float(target)


# ---- Figure 6: top-k means over the number of models sampled ----------------------------


def rewards_in_order(trials: Sequence[FrozenTrial]) -> np.ndarray:
    """Each trial's reward in the order proposed, NaN where it has none (failed, running, waiting)."""
    ordered = sorted(trials, key=lambda t: t.number)
    return np.array(
        [t.reward if t.state == TrialState.COMPLETE and _finite(t.reward) else np.nan for t in ordered], dtype=float
    )


def top_k_means(rewards: Sequence[float | None] | np.ndarray, k: int, keys: Sequence[Any] | None = None) -> np.ndarray:
    """For each n, the mean of the ``k`` highest rewards among the first n; NaN until there are ``k``.

    With ``keys`` (genotype hashes), each key counts once, with its first reward: Figure 6 ranks
    unique models, so a genotype sampled again (or a cached duplicate) cannot fill the top k twice.
    Missing rewards (None or NaN) are skipped. A running min-heap keeps it O(n log k).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    values = list(rewards)
    out = np.full(len(values), np.nan)
    heap: list[float] = []
    total = 0.0
    seen: set[Any] = set()
    for i, value in enumerate(values):
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            key = keys[i] if keys is not None else None
            if keys is None or key not in seen:
                if keys is not None:
                    seen.add(key)
                value = float(value)
                if len(heap) < k:
                    heapq.heappush(heap, value)
                    total += value
                elif value > heap[0]:
                    total += value - heapq.heapreplace(heap, value)
        if len(heap) == k:
            out[i] = total / k
    return out


def best_so_far(rewards: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """The highest reward among the first n trials, for each n (NaN before the first reward)."""
    values = np.array([np.nan if v is None else v for v in rewards], dtype=float)
    if not len(values):
        return values
    filled = np.where(np.isnan(values), -np.inf, values)
    best = np.maximum.accumulate(filled)
    return np.where(np.isneginf(best), np.nan, best)


@dataclass(frozen=True)
class ProgressCurves:
    """Figure 6's curves for one experiment, indexed by the number of trials sampled (1..N)."""

    label: str
    sampled: np.ndarray  # 1..N
    reward: np.ndarray  # the reward of trial n (NaN if it has none)
    best: np.ndarray  # the best reward among the first n (any trial, unique or not)
    top: dict[int, np.ndarray]  # the mean reward of the top k unique models among the first n
    settled: int = 0  # how many of the first trials are all finished: beyond, a running trial may still score

    @property
    def count(self) -> int:
        return len(self.sampled)

    def at(self, n: int) -> dict[str, float | None]:
        """The figures after the first ``n`` trials: ``best`` and ``top_K`` (None where undefined)."""
        if not 1 <= n <= self.count:
            raise ValueError(f"n must be in 1..{self.count}, got {n}")
        row = {"best": _value(self.best[n - 1])}
        row.update({f"top_{k}": _value(curve[n - 1]) for k, curve in self.top.items()})
        return row


def _value(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def progress_curves(trials: Sequence[FrozenTrial], label: str = "", ks: Sequence[int] = TOP_KS) -> ProgressCurves:
    """Figure 6's curves of one experiment: its rewards, the best so far and the top-k unique means."""
    ordered = sorted(trials, key=lambda t: t.number)
    rewards = rewards_in_order(ordered)
    keys = [t.genotype_hash for t in ordered]
    settled = next((i for i, t in enumerate(ordered) if not t.finished), len(ordered))
    return ProgressCurves(
        label=label,
        sampled=np.arange(1, len(ordered) + 1),
        reward=rewards,
        best=best_so_far(rewards),
        top={k: top_k_means(rewards, k, keys) for k in ks},
        settled=settled,
    )


def matched_budgets(count: int, start: int = 100) -> list[int]:
    """Numbers of trials at which to compare searches: 100, 250, 500, 1000, ... below ``count``, then ``count``.

    Below 100 trials, the same steps from 10 (10, 25, 50).
    """
    if count < 1:
        return []
    if count <= start:
        start = 10
    budgets, decade = [], start
    while True:
        for step in BUDGET_STEPS:
            budget = round(decade * step)
            if budget >= count:
                return [*budgets, count]
            budgets.append(budget)
        decade *= 10


STATISTICS = ("best", *(f"top_{k}" for k in TOP_KS))


@dataclass(frozen=True)
class BudgetRow:
    """One experiment's figures after its first ``budget`` trials, and their difference from the first experiment's."""

    budget: int
    label: str
    values: dict[str, float | None]
    difference: dict[str, float | None] | None  # None for the first experiment, the reference

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "experiment": self.label, **self.values, "difference": self.difference}


@dataclass(frozen=True)
class Comparison:
    """Figure 6's curves read at matched budgets, for experiments compared with the first."""

    labels: list[str]
    counts: list[int]  # trials sampled
    settled: list[int]  # leading trials all finished (see `ProgressCurves.settled`)
    budgets: list[int]
    rows: list[BudgetRow]
    statistics: tuple[str, ...] = STATISTICS

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.labels[0] if self.labels else None,
            "experiments": [
                {"label": label, "trials": count, "settled": settled}
                for label, count, settled in zip(self.labels, self.counts, self.settled, strict=True)
            ],
            "budgets": self.budgets,
            "statistics": list(self.statistics),
            "rows": [row.to_dict() for row in self.rows],
        }


def compare_at_budgets(curves: Sequence[ProgressCurves], budgets: Sequence[int] | None = None) -> Comparison:
    """Each experiment's best reward and top-k means after the same numbers of trials, minus the first's.

    The budgets default to `matched_budgets` of the smallest experiment, so every experiment has
    sampled every budget: comparing a search at 1,000 trials with another at 20,000 says nothing
    about which is more efficient (Section 4.4 compares RL and random search at equal samples).
    An experiment's size here is its settled trials (the first ones, all finished): while a search
    runs, a trial still in flight may yet change its figures at that budget.
    """
    counts = [c.count for c in curves]
    settled = [c.settled for c in curves]
    smallest = min(settled, default=0)
    chosen = matched_budgets(smallest) if budgets is None else sorted({int(b) for b in budgets if 1 <= b <= smallest})
    statistics = ("best", *(f"top_{k}" for k in (curves[0].top if curves else TOP_KS)))
    rows = []
    for budget in chosen:
        reference = curves[0].at(budget)
        for index, curve in enumerate(curves):
            values = curve.at(budget)
            difference = None
            if index > 0:
                difference = {
                    s: None if values[s] is None or reference[s] is None else values[s] - reference[s]
                    for s in statistics
                }
            rows.append(BudgetRow(budget, curve.label, {s: values[s] for s in statistics}, difference))
    return Comparison([c.label for c in curves], counts, settled, chosen, rows, statistics)


def difference_curves(reference: ProgressCurves, other: ProgressCurves) -> dict[int, np.ndarray]:
    """``other``'s top-k means minus ``reference``'s at every shared number of trials (Figure 6's gap)."""
    n = min(reference.count, other.count)
    return {k: other.top[k][:n] - reference.top[k][:n] for k in reference.top if k in other.top}


# ---- cost: reward against mult-adds and parameters -----------------------------------------


def pareto_front(costs: Sequence[float], rewards: Sequence[float]) -> list[int]:
    """Indices of the points no other point dominates (cost no higher, reward no lower, one strictly), by cost.

    Equal points do not dominate each other, so all copies of a front point are kept.
    """
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -rewards[i], i))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if rewards[i] > best:
            front.append(i)
            best = rewards[i]
        elif front and rewards[i] == best and costs[i] == costs[front[-1]]:
            front.append(i)  # a copy of the last front point
    return front


@dataclass(frozen=True)
class CostPoints:
    """The complete trials that report ``metric``: their numbers, costs and rewards, and which are on the front."""

    metric: str
    numbers: np.ndarray
    costs: np.ndarray
    rewards: np.ndarray
    front: list[int]  # indices into the arrays, by increasing cost


def cost_points(trials: Sequence[FrozenTrial], metric: str) -> CostPoints:
    chosen = [
        t for t in trials if t.state == TrialState.COMPLETE and _finite(t.reward) and _finite(t.metrics.get(metric))
    ]
    costs = np.array([float(t.metrics[metric]) for t in chosen], dtype=float)
    rewards = np.array([float(t.reward) for t in chosen], dtype=float)  # type: ignore[arg-type]
    front = pareto_front(costs.tolist(), rewards.tolist())
    return CostPoints(metric, np.array([t.number for t in chosen], dtype=int), costs, rewards, front)


# ---- the best trials ------------------------------------------------------------------------


@dataclass(frozen=True)
class TopTrial:
    """One of the best unique genotypes: its first complete trial, and how often it was sampled."""

    trial: FrozenTrial
    sampled: int

    @property
    def train_seconds(self) -> float | None:
        """The child's training time where the trainer reported it, else the evaluation's."""
        value = self.trial.metrics.get("train_seconds")
        return float(value) if _finite(value) else self.trial.seconds


def top_trials(trials: Sequence[FrozenTrial], k: int = 10) -> list[TopTrial]:
    """The ``k`` best unique genotypes by reward (ties: the earlier trial first)."""
    sampled = Counter(t.genotype_hash for t in trials)
    firsts: dict[str, FrozenTrial] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == TrialState.COMPLETE and _finite(t.reward) and t.genotype_hash not in firsts:
            firsts[t.genotype_hash] = t
    best = sorted(firsts.values(), key=lambda t: (-float(t.reward), t.number))[:k]  # type: ignore[arg-type]
    return [TopTrial(t, sampled[t.genotype_hash]) for t in best]


# ---- what was learned -----------------------------------------------------------------------


def op_frequencies(
    trials: Sequence[FrozenTrial], ops: Sequence[str] = (), top_fraction: float = TOP_FRACTION
) -> dict[str, Any]:
    """Per cell kind, the share of op slots each op fills in the top ``top_fraction`` of trials and in all.

    Only complete trials count; the top set holds at least one trial. Ops are listed in the order
    of ``ops`` (the search space's), then any other op seen. Returns ``{"top": n, "all": n,
    "kinds": {kind: {op: {"top": share, "all": share}}}}``.
    """
    complete = sorted(
        (t for t in trials if t.state == TrialState.COMPLETE and _finite(t.reward)),
        key=lambda t: (-float(t.reward), t.number),  # type: ignore[arg-type]
    )
    n_top = max(1, math.ceil(top_fraction * len(complete))) if complete else 0
    names = list(dict.fromkeys(ops))
    kinds: dict[str, dict[str, dict[str, float]]] = {}
    for kind in CELL_KINDS:
        counts = {"top": Counter[str](), "all": Counter[str]()}
        for rank, trial in enumerate(complete):
            cell = getattr(trial.genotype, kind)
            chosen = [op for block in cell.blocks for op in block.ops]
            counts["all"].update(chosen)
            if rank < n_top:
                counts["top"].update(chosen)
        for op in counts["all"]:
            if op not in names:
                names.append(op)
        totals = {group: sum(c.values()) for group, c in counts.items()}
        kinds[kind] = {
            op: {group: (counts[group][op] / totals[group] if totals[group] else 0.0) for group in ("top", "all")}
            for op in names
        }
    for kind in CELL_KINDS:  # an op first seen in the reduction cell gets its place in the normal one too
        for op in names:
            kinds[kind].setdefault(op, {"top": 0.0, "all": 0.0})
    return {"top": n_top, "all": len(complete), "top_fraction": top_fraction, "kinds": kinds}


@dataclass(frozen=True)
class LearnedSeries:
    """The controller's choice probabilities at each history record, against the trials it had been told of."""

    told: np.ndarray
    # kind ("normal"/"reduction") -> group ("ops"/"inputs"/"combines") -> choice -> probabilities (NaN where absent)
    series: dict[str, dict[str, dict[str, np.ndarray]]]

    @property
    def empty(self) -> bool:
        return len(self.told) == 0


def learned_series(history: Sequence[Mapping[str, Any]]) -> LearnedSeries:
    """`Strategy.learned` records (``strategy_history()``) as one series per choice; empty records are skipped."""
    records = [h for h in history if isinstance(h.get("learned"), Mapping) and h["learned"]]
    records.sort(key=lambda h: (h.get("told") or 0, h.get("event_seq") or 0))
    told = np.array([float(h.get("told") or 0) for h in records], dtype=float)
    names: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for h in records:
        for kind, groups in h["learned"].items():
            if not isinstance(groups, Mapping):
                continue
            for group, probs in groups.items():
                if isinstance(probs, Mapping):
                    for choice in probs:
                        if choice not in names[kind][group]:
                            names[kind][group].append(str(choice))
    series: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for kind, groups in names.items():
        series[kind] = {}
        for group, choices in groups.items():
            series[kind][group] = {}
            for choice in choices:
                values = []
                for h in records:
                    p = h["learned"].get(kind, {}).get(group, {})
                    value = p.get(choice) if isinstance(p, Mapping) else None
                    values.append(float(value) if _finite(value) else np.nan)
                series[kind][group][choice] = np.array(values, dtype=float)
    return LearnedSeries(told, series)


# ---- failures and timing --------------------------------------------------------------------

_HEX = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_QUOTED_PATH = re.compile(r"'(?:/[^'\s]*)+'")
REASON_LIMIT = 160


def failure_key(reason: str | None) -> str:
    """A failure reason with what differs between otherwise equal failures (numbers, addresses, paths) masked.

    "CUDA out of memory. Tried to allocate 2.00 GiB" and "... 1.50 GiB" are one kind of failure.
    """
    text = " ".join(str(reason or "unknown").split())
    text = _QUOTED_PATH.sub("'…'", _HEX.sub("0x…", text))
    return printable(_NUMBER.sub("N", text), REASON_LIMIT)


@dataclass(frozen=True)
class FailureGroup:
    """Failed trials whose reasons differ only in numbers, addresses or paths."""

    key: str
    count: int
    reused: int  # of them, duplicates that took a failed result instead of running
    example: str  # the first such reason in full (on one line)
    trials: list[int]  # the first few trial numbers

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.key,
            "count": self.count,
            "reused": self.reused,
            "example": self.example,
            "trials": self.trials,
        }


def failure_groups(trials: Sequence[FrozenTrial], examples: int = 8) -> list[FailureGroup]:
    """Failed trials grouped by `failure_key`, the largest group first."""
    groups: dict[str, list[FrozenTrial]] = defaultdict(list)
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == TrialState.FAILED:
            groups[failure_key(t.failure)].append(t)
    out = [
        FailureGroup(
            key=key,
            count=len(members),
            reused=sum(t.cached_from is not None for t in members),
            example=printable(" ".join(str(members[0].failure or "unknown").split()), 400),
            trials=[t.number for t in members[:examples]],
        )
        for key, members in groups.items()
    ]
    return sorted(out, key=lambda g: (-g.count, g.key))


@dataclass(frozen=True)
class WorkerUse:
    """One worker's share of the search: the trials it evaluated and its busy time over the search's wall time."""

    worker: str
    trials: int
    failed: int
    busy_seconds: float
    utilisation: float | None  # busy / wall; None without a wall time


def worker_utilisation(trials: Sequence[FrozenTrial], wall_seconds: float) -> list[WorkerUse]:
    """Busy time per worker: the evaluation seconds of the finished trials it ran (reused results took none)."""
    busy: dict[str, float] = defaultdict(float)
    ran: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for t in trials:
        if not t.finished or t.cached_from is not None:
            continue
        name = t.worker or "unknown"
        ran[name] += 1
        failed[name] += t.state == TrialState.FAILED
        if _finite(t.seconds):
            busy[name] += max(0.0, float(t.seconds))  # type: ignore[arg-type]
        elif t.started_at and t.finished_at:
            busy[name] += max(0.0, t.finished_at - t.started_at)
    return [
        WorkerUse(name, ran[name], failed[name], busy[name], busy[name] / wall_seconds if wall_seconds > 0 else None)
        for name in sorted(ran, key=_natural_key)
    ]


def _natural_key(name: str) -> list[Any]:
    """worker-2 before worker-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class Throughput:
    """Finished trials per hour over the search, binned by finish time since the first trial."""

    edges: np.ndarray  # seconds since the first trial was created, len(bins) + 1
    per_hour: np.ndarray
    finished: int
    wall_seconds: float

    @property
    def overall_per_hour(self) -> float | None:
        return self.finished / self.wall_seconds * 3600 if self.wall_seconds > 0 else None


def throughput(trials: Sequence[FrozenTrial], wall_seconds: float, bins: int | None = None) -> Throughput:
    """Trials finished per hour in ``bins`` equal slices of the span from the first trial to the last finish.

    By default about 20 trials a slice, from 5 to 48 slices, so that a short search's rate is not noise.
    Between sessions the rate drops to zero: the gap shows where the search was stopped.
    """
    finished = np.array([t.finished_at for t in trials if t.finished and t.finished_at], dtype=float)
    created = [t.created_at for t in trials if t.created_at]
    if not len(finished) or not created:
        return Throughput(np.zeros(0), np.zeros(0), len(finished), wall_seconds)
    if bins is None:
        bins = max(5, min(48, len(finished) // 20))
    since = finished - min(created)
    span = max(float(since.max()), 1e-3)
    edges = np.linspace(0.0, span, bins + 1)
    counts, _ = np.histogram(since, bins=edges)
    width = span / bins
    return Throughput(edges, counts / width * 3600, len(finished), wall_seconds)


__all__ = [
    "COST_METRICS",
    "STATISTICS",
    "TOP_FRACTION",
    "TOP_KS",
    "BudgetRow",
    "Comparison",
    "CostPoints",
    "Experiment",
    "FailureGroup",
    "LearnedSeries",
    "ProgressCurves",
    "ReportError",
    "Throughput",
    "TopTrial",
    "WorkerUse",
    "best_so_far",
    "compare_at_budgets",
    "cost_points",
    "difference_curves",
    "failure_groups",
    "failure_key",
    "learned_series",
    "load_experiment",
    "matched_budgets",
    "op_frequencies",
    "pareto_front",
    "progress_curves",
    "reward_target",
    "rewards_in_order",
    "throughput",
    "top_k_means",
    "top_trials",
    "trial_span",
    "unique_labels",
    "worker_utilisation",
]
