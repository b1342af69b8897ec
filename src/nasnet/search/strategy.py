"""The ask/tell strategy interface, as in Optuna.

``ask()`` proposes a decision sequence; ``tell(trial, reward)`` reports its
reward (``None`` for a failed trial). Many trials may be in flight, and their
results may arrive in any order: whatever a strategy needs back at tell time
it puts in the proposal's ``info``, which the store keeps with the trial.

A strategy's state (``state_dict``) holds tensors, numbers, strings, lists and
dicts only, so it round-trips through `torch.save` and
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import inspect
import io
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from nasnet.errors import NasnetError
from nasnet.space.encoding import SearchSpace


class StrategyError(NasnetError, ValueError):
    """An unknown strategy, an unknown option, or a bad option value."""


@dataclass(frozen=True)
class Proposal:
    """What a strategy asks to be evaluated."""

    decisions: tuple[int, ...]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Trial:
    """A proposal as it comes back at tell time, with the number the store gave it."""

    number: int
    decisions: tuple[int, ...]
    info: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """Base class of search strategies."""

    name: ClassVar[str]

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.asked = 0
        self.told = 0

    @abstractmethod
    def ask(self) -> Proposal: ...

    @abstractmethod
    def tell(self, trial: Trial, reward: float | None) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {"asked": self.asked, "told": self.told}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.asked = int(state["asked"])
        self.told = int(state["told"])

    def describe(self) -> dict[str, Any]:
        """A few numbers for progress views and `nasnet status`."""
        return {"asked": self.asked, "told": self.told}

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(self.state_dict(), buffer)
        return buffer.getvalue()

    def load_bytes(self, data: bytes) -> None:
        self.load_state_dict(torch.load(io.BytesIO(data), weights_only=True))


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    state = rng.bit_generator.state
    inner = state["state"]
    # 128-bit integers as strings, so the state is plain data for any serializer.
    return {
        "bit_generator": state["bit_generator"],
        "state": str(inner["state"]),
        "inc": str(inner["inc"]),
        "has_uint32": state["has_uint32"],
        "uinteger": state["uinteger"],
    }


def set_rng_state(rng: np.random.Generator, saved: dict[str, Any]) -> None:
    rng.bit_generator.state = {
        "bit_generator": saved["bit_generator"],
        "state": {"state": int(saved["state"]), "inc": int(saved["inc"])},
        "has_uint32": saved["has_uint32"],
        "uinteger": saved["uinteger"],
    }


_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    _REGISTRY[cls.name] = cls
    return cls


def list_strategies() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def _load_builtins() -> None:
    from nasnet.search import evolution, random_search, rl  # noqa: F401 (they register themselves)


def strategy_options(name: str) -> dict[str, Any]:
    """The options of strategy ``name`` with their defaults."""
    _load_builtins()
    if name not in _REGISTRY:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    signature = inspect.signature(_REGISTRY[name].__init__)
    return {
        key: param.default
        for key, param in signature.parameters.items()
        if key not in ("self", "space", "seed") and param.default is not inspect.Parameter.empty
    }


def make_strategy(name: str, space: SearchSpace, seed: int = 0, **options: Any) -> Strategy:
    """Create strategy ``name`` (``rl``, ``random`` or ``evolution``) with ``options``."""
    allowed = strategy_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise StrategyError(f"strategy {name!r}: unknown option(s) {unknown}; allowed: {sorted(allowed)}")
    return _REGISTRY[name](space, seed=seed, **options)
