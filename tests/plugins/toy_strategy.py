"""A toy strategy, registered as a plug-in (the recipe in docs/extending.md): it cycles each decision."""

from __future__ import annotations

from typing import Any

from nasnet.search import FrozenTrial, Proposal, Strategy, register_strategy
from nasnet.space import SearchSpace


@register_strategy
class CyclingStrategy(Strategy):
    """Trial k sets every decision to k modulo its number of choices; remembers the best reward."""

    name = "toy-cycle"

    def __init__(self, space: SearchSpace, seed: int = 0, start: int = 0) -> None:
        super().__init__(space, seed)
        self.start = start
        self.best: float | None = None

    def propose(self) -> Proposal:
        k = self.start + self.asked
        return Proposal(tuple(k % count for count in self.space.choice_counts()), {"k": k})

    def observe(self, trial: FrozenTrial, reward: float | None) -> None:
        if reward is not None and (self.best is None or reward > self.best):
            self.best = reward

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.best = state["best"]
