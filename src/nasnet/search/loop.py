"""`search`: start or resume an experiment, and run it to its budget.

This module puts the pieces together: it checks the arguments (`arguments`),
builds the strategy, evaluator, reward and executor from their registries,
writes or reads the `ExperimentConfig`, and hands a session to the
`SearchDriver` (`driver`), which does the ask/evaluate/tell loop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nasnet.errors import NasnetError
from nasnet.evaluate import Evaluator, make_evaluator
from nasnet.evaluate.rewards import RewardFn, make_reward, reward_spec
from nasnet.execution import InProcessExecutor, LocalExecutor
from nasnet.execution.base import Executor
from nasnet.registry import load_plugins, loaded_plugins
from nasnet.search.arguments import MAX_TRIALS, SearchError, check_arguments
from nasnet.search.driver import SearchDriver, SnapshotWarning
from nasnet.search.strategy import make_strategy
from nasnet.search.views import Progress, SearchState, SearchSummary, progress_view
from nasnet.space.encoding import DEFAULT_SPACE, SearchSpace
from nasnet.store.config import CONFIG_VERSION, UNLIMITED_TRIALS, ExperimentConfig, space_from_spec, space_spec
from nasnet.store.sqlite import ExperimentStore

__all__ = [
    "CONFIG_VERSION",
    "MAX_TRIALS",
    "Progress",
    "SearchError",
    "SearchInterrupted",
    "SearchState",
    "SearchSummary",
    "SnapshotWarning",
    "search",
    "space_from_spec",
]


class SearchInterrupted(NasnetError):
    """The search was stopped by the user; it can be resumed."""


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
    trials, hours = check_arguments(out, trials, hours, snapshot_every, resume)
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
        config = ExperimentConfig(
            strategy=strategy,
            strategy_options=dict(strategy_options or {}),
            seed=seed,
            trials=trials if trials is not None else UNLIMITED_TRIALS,
            hours=hours,
            evaluator=evaluator_obj.spec(),
            reward=reward_spec(reward),
            dedup=dedup,
            space=space_spec(space),
            plugins=tuple(loaded_plugins()),
        )
        store = ExperimentStore.create(directory, config, overwrite=overwrite)
    else:
        store = ExperimentStore.open(directory)
        try:
            config = store.config
            load_plugins(config.plugins, flag="the experiment's plug-in")
            evaluator_obj = make_evaluator(evaluator if evaluator is not None else config.evaluator)
            reward_fn = reward if callable(reward) and reward != "accuracy" else make_reward(config.reward)
            strategy_obj = make_strategy(config.strategy, config.search_space(), config.seed, **config.strategy_options)
            executor = _ready_executor(executor, evaluator_obj, workers)
            budget = {"trials": trials, "hours": hours}
            store.update_config(config.replace(**{key: value for key, value in budget.items() if value is not None}))
        except BaseException:
            store.close()
            raise
    try:
        driver = SearchDriver(
            store, strategy_obj, evaluator_obj, reward_fn, executor, progress_view(progress), snapshot_every
        )
        driver.restore()
        executor.start(evaluator_obj)
        driver.requeue()
        try:
            return driver.run()
        except KeyboardInterrupt:
            raise SearchInterrupted(f"interrupted; continue with: nasnet search --resume {directory}") from None
    finally:
        executor.shutdown()
        store.close()
