"""Rewards: validation accuracy, or the MnasNet/EfficientNet objective ACC x (COST/T)^w.

A reward is any callable ``(accuracy, metrics) -> float``. A reward kind is
described by plain data (`reward_spec`), so an experiment can record which
reward it used and rebuild it on resume: `REWARDS` maps each kind to a
builder ``spec -> reward`` (``@register_reward("kind")``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nasnet.errors import NasnetError
from nasnet.registry import Registry

RewardFn = Callable[[float, Mapping[str, Any]], float]
COST_METRICS = ("mult_adds", "params")


class RewardError(NasnetError, ValueError):
    """A reward specification is invalid, or a result lacks the metric the reward needs."""


# Reward builders by kind: ``spec -> RewardFn``, where ``spec`` is the stored plain data ``{"kind": ..., ...}``.
REWARDS: Registry[Callable[[Mapping[str, Any]], RewardFn]] = Registry("reward", "nasnet.rewards", RewardError)


def register_reward(kind: str) -> Callable[[Callable[[Mapping[str, Any]], RewardFn]], Callable[..., RewardFn]]:
    """Decorator: register a builder ``spec -> reward`` for specs of ``kind``."""
    return REWARDS.register(kind)


def list_rewards() -> list[str]:
    return REWARDS.names()


def accuracy_reward(accuracy: float, metrics: Mapping[str, Any]) -> float:
    """The paper's reward: the child's validation accuracy."""
    return float(accuracy)


@dataclass(frozen=True)
class MnasReward:
    """``ACC x (COST / target)^w`` with ``w = alpha`` if ``COST <= target`` else ``beta`` (MnasNet, Tan et al., 2019).

    Soft constraint: ``alpha = beta = -0.07`` (MnasNet's default; EfficientNet
    uses it with FLOPs and T = 400M). Hard constraint: ``alpha = 0, beta = -1``.
    """

    target: float
    metric: str = "mult_adds"
    alpha: float = -0.07
    beta: float = -0.07

    def __post_init__(self) -> None:
        if self.metric not in COST_METRICS:
            raise RewardError(f"reward field 'metric': expected one of {COST_METRICS}, got {self.metric!r}")
        if not self.target > 0:
            raise RewardError(f"reward field 'target': must be positive, got {self.target!r}")

    @classmethod
    def soft(cls, target: float, metric: str = "mult_adds") -> MnasReward:
        return cls(target, metric, alpha=-0.07, beta=-0.07)

    @classmethod
    def hard(cls, target: float, metric: str = "mult_adds") -> MnasReward:
        return cls(target, metric, alpha=0.0, beta=-1.0)

    def __call__(self, accuracy: float, metrics: Mapping[str, Any]) -> float:
        cost = metrics.get(self.metric)
        if cost is None:
            raise RewardError(f"the result has no '{self.metric}' metric, which this reward needs")
        ratio = float(cost) / self.target
        exponent = self.alpha if ratio <= 1.0 else self.beta
        return float(accuracy) * ratio**exponent


def reward_spec(reward: RewardFn | str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Plain data describing ``reward``, to store with an experiment."""
    if reward is None or reward == "accuracy" or reward is accuracy_reward:
        return {"kind": "accuracy"}
    if isinstance(reward, str):
        make_reward(reward)  # an unknown kind, or one that needs more fields than a name
        return {"kind": reward}
    if isinstance(reward, MnasReward):
        return {
            "kind": "mnas",
            "target": reward.target,
            "metric": reward.metric,
            "alpha": reward.alpha,
            "beta": reward.beta,
        }
    if isinstance(reward, Mapping):
        make_reward(reward)  # validate
        return dict(reward)
    if callable(reward):
        name = f"{getattr(reward, '__module__', '?')}.{getattr(reward, '__qualname__', repr(reward))}"
        return {"kind": "custom", "name": name}
    raise RewardError(f"unknown reward {reward!r}; use 'accuracy', a MnasReward or a callable")


def make_reward(spec: Mapping[str, Any] | str | None) -> RewardFn:
    """The reward described by ``spec`` (see `reward_spec`): a kind's name or its spec."""
    if spec is None:
        return accuracy_reward
    if isinstance(spec, str):
        return REWARDS.get(spec)({"kind": spec})
    kind = spec.get("kind")
    if kind == "custom":
        raise RewardError(
            f"this experiment used a custom reward ({spec.get('name')}); pass the same callable as reward= to resume"
        )
    return REWARDS.get(kind)(spec)


@register_reward("accuracy")
def _accuracy(spec: Mapping[str, Any]) -> RewardFn:
    return accuracy_reward


@register_reward("mnas")
def _mnas(spec: Mapping[str, Any]) -> RewardFn:
    unknown = sorted(set(spec) - {"kind", "target", "metric", "alpha", "beta"})
    if unknown:
        raise RewardError(f"reward: unknown field(s) {unknown}")
    if "target" not in spec:
        raise RewardError("reward: field 'target' is required for the MnasNet objective")
    return MnasReward(
        float(spec["target"]),
        spec.get("metric", "mult_adds"),
        float(spec.get("alpha", -0.07)),
        float(spec.get("beta", -0.07)),
    )
