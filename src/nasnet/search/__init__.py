"""Search strategies (RL controller, random, regularized evolution), rewards, evaluators and the loop."""

from nasnet.search.evaluators import (
    EvalResult,
    Evaluator,
    SyntheticEvaluator,
    TrainingEvaluator,
    make_evaluator,
    synthetic_objective,
)
from nasnet.search.loop import SearchError, SearchInterrupted, SearchState, SearchSummary, search
from nasnet.search.rewards import MnasReward, accuracy_reward, make_reward, reward_spec
from nasnet.search.strategy import (
    Proposal,
    Strategy,
    StrategyError,
    Trial,
    list_strategies,
    make_strategy,
    strategy_options,
)

__all__ = [
    "EvalResult",
    "Evaluator",
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
    "Trial",
    "accuracy_reward",
    "list_strategies",
    "make_evaluator",
    "make_reward",
    "make_strategy",
    "reward_spec",
    "search",
    "strategy_options",
    "synthetic_objective",
]
