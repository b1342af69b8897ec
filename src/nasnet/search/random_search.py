"""Random search: every decision uniform and independent (the paper's baseline, Section 4.4 and Figure 6)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nasnet.search.strategy import Proposal, Strategy, register_strategy, rng_state, set_rng_state
from nasnet.space.encoding import SearchSpace
from nasnet.store.trial import FrozenTrial


@register_strategy
class RandomSearch(Strategy):
    name = "random"

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        super().__init__(space, seed)
        self.rng = np.random.default_rng(seed)
        self._counts = np.asarray(space.choice_counts())

    def propose(self) -> Proposal:
        return Proposal(tuple(int(x) for x in self.rng.integers(0, self._counts)))

    def observe(self, trial: FrozenTrial, reward: float | None) -> None:
        pass  # every proposal is independent of the results

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng": rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        set_rng_state(self.rng, state["rng"])
