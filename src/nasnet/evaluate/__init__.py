"""Evaluators turn a genotype into a result (train the child, or score it instantly); rewards score results.

An evaluator is described by plain data (`Evaluator.spec`), so that worker
processes and cluster nodes can rebuild it with `make_evaluator`, and an
experiment can rebuild it on resume.

* ``train``: trains the child with `nasnet.train.train` and a preset (the
  paper's ``search`` proxy by default). The dataset is loaded once per
  evaluator and stays on the device across children.
* ``synthetic``: an instant reward from a fixed, non-trivial function of the
  genotype, for tests, benchmarks and demonstrations of the machinery.
* ``import``: any ``module:function`` that builds an evaluator.

This layer sits between training and execution: the executors run evaluators
and the search loop turns their results into rewards, and neither needs the
other to do so.
"""

from nasnet.evaluate.base import EVALUATORS, EvalResult, Evaluator, EvaluatorError, register_evaluator
from nasnet.evaluate.factory import list_evaluators, make_evaluator
from nasnet.evaluate.rewards import (
    REWARDS,
    MnasReward,
    RewardError,
    RewardFn,
    accuracy_reward,
    list_rewards,
    make_reward,
    register_reward,
    reward_spec,
)

# The built-in evaluators: importing each module registers it (its registration line).
from nasnet.evaluate.synthetic import SyntheticEvaluator, synthetic_costs, synthetic_objective
from nasnet.evaluate.training import TrainingEvaluator

__all__ = [
    "EVALUATORS",
    "REWARDS",
    "EvalResult",
    "Evaluator",
    "EvaluatorError",
    "MnasReward",
    "RewardError",
    "RewardFn",
    "SyntheticEvaluator",
    "TrainingEvaluator",
    "accuracy_reward",
    "list_evaluators",
    "list_rewards",
    "make_evaluator",
    "make_reward",
    "register_evaluator",
    "register_reward",
    "reward_spec",
    "synthetic_costs",
    "synthetic_objective",
]
