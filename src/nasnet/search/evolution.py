"""Regularized (aging) evolution, Real et al. 2019.

The first ``population_size`` proposals are uniformly random. After that, each
proposal samples ``sample_size`` members of the population, takes the best as
the parent, and changes one of its decisions to another value. Each result
joins the population; the oldest member then dies, whatever its reward.
Failed children never join.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from nasnet.search.strategy import (
    Proposal,
    Strategy,
    StrategyError,
    register_strategy,
    rng_state,
    set_rng_state,
)
from nasnet.space.encoding import SearchSpace
from nasnet.store.trial import FrozenTrial


@register_strategy
class RegularizedEvolution(Strategy):
    name = "evolution"

    def __init__(self, space: SearchSpace, seed: int = 0, population_size: int = 100, sample_size: int = 25) -> None:
        super().__init__(space, seed)
        if population_size < 2:
            raise StrategyError(f"evolution option 'population_size' must be >= 2, got {population_size}")
        if not 1 <= sample_size <= population_size:
            raise StrategyError(f"evolution option 'sample_size' must be in 1..population_size, got {sample_size}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.rng = np.random.default_rng(seed)
        self.counts = np.asarray(space.choice_counts())
        self.mutable_steps = np.flatnonzero(self.counts > 1)
        self.population: deque[dict[str, Any]] = deque()
        self.random_asked = 0

    def propose(self) -> Proposal:
        if self.random_asked < self.population_size or not self.population:
            self.random_asked += 1
            return Proposal(tuple(int(x) for x in self.rng.integers(0, self.counts)), {"origin": "random"})
        members = list(self.population)
        picks = self.rng.choice(len(members), size=min(self.sample_size, len(members)), replace=False)
        parent = max((members[i] for i in picks), key=lambda m: m["reward"])
        child, step = self.mutate(parent["decisions"])
        return Proposal(child, {"origin": "mutation", "parent": parent["trial"], "mutated_step": step})

    def mutate(self, decisions: tuple[int, ...] | list[int]) -> tuple[tuple[int, ...], int]:
        """Change one decision to a different value, uniformly at random."""
        child = list(decisions)
        step = int(self.rng.choice(self.mutable_steps))
        shift = int(self.rng.integers(1, self.counts[step]))
        child[step] = (child[step] + shift) % int(self.counts[step])
        return tuple(child), step

    def observe(self, trial: FrozenTrial, reward: float | None) -> None:
        if reward is None:
            return
        self.population.append({"trial": trial.number, "decisions": list(trial.decisions), "reward": float(reward)})
        while len(self.population) > self.population_size:
            self.population.popleft()

    def describe(self) -> dict[str, Any]:
        rewards = [m["reward"] for m in self.population]
        return {
            **super().describe(),
            "population": len(self.population),
            "population_best": max(rewards) if rewards else None,
            "population_mean": float(np.mean(rewards)) if rewards else None,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "rng": rng_state(self.rng),
            "population": list(self.population),
            "random_asked": self.random_asked,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        set_rng_state(self.rng, state["rng"])
        self.population = deque(state["population"])
        self.random_asked = int(state["random_asked"])
