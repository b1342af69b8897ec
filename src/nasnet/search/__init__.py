"""Search strategies (RL controller, random, regularized evolution) and the loop.

Importing this package registers the built-in strategies: `strategy` is the
registry and never imports its plug-ins (they import it), so the package is
what brings them in, and every way to reach `make_strategy` or
`list_strategies` passes through it first. Evaluators and rewards live one
layer down, in `nasnet.evaluate`; they are re-exported here so that
``nasnet.search`` alone is enough to run a search from Python.
"""

from nasnet.evaluate import (
    EvalResult,
    Evaluator,
    MnasReward,
    SyntheticEvaluator,
    TrainingEvaluator,
    accuracy_reward,
    make_evaluator,
    make_reward,
    reward_spec,
    synthetic_objective,
)
from nasnet.search import evolution, random_search, rl  # noqa: F401 (each registers its strategy on import)
from nasnet.search.loop import SearchError, SearchInterrupted, SearchState, SearchSummary, search
from nasnet.search.strategy import (
    STRATEGIES,
    Proposal,
    Strategy,
    StrategyError,
    frozen_trial,
    list_strategies,
    make_strategy,
    register_strategy,
    strategy_options,
)
from nasnet.store.trial import FrozenTrial, TrialState

__all__ = [
    "STRATEGIES",
    "EvalResult",
    "Evaluator",
    "FrozenTrial",
    "MnasReward",
    "Proposal",
    "SearchError",
    "SearchInterrupted",
    "SearchState",
    "SearchSummary",
    "Strategy",
    "StrategyError",
    "SyntheticEvaluator",
    "TrainingEvaluator",
    "TrialState",
    "accuracy_reward",
    "frozen_trial",
    "list_strategies",
    "make_evaluator",
    "make_reward",
    "make_strategy",
    "register_strategy",
    "reward_spec",
    "search",
    "strategy_options",
    "synthetic_objective",
]
